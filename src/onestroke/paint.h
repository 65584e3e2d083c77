/* paint.h: a One Stroke drawing and the rules every layer shares: the drawing id, the list
 * cursor, and the argument checks the stores run first. Pure: no I/O, no state.
 *
 * A drawing: (openId, id) unique; id is 1..64 bytes of [A-Za-z0-9_-]; actions is an opaque
 * UTF-8 string (the client's serialized canvas actions), stored as given; createdAt is set by
 * the first save and kept by later saves of the same id; updatedAt by every save. Lists are
 * newest first: ordered by (createdAt DESC, id DESC), paged by a cursor that names the last
 * drawing of the previous page. */
#ifndef ONESTROKE_PAINT_H
#define ONESTROKE_PAINT_H

#include <stddef.h>
#include <stdint.h>

#define OS_PAINT_ID_MAX 64
#define OS_OPENID_MAX 128
#define OS_PAINT_LIST_MAX 1000                       /* the largest page a store serves */
#define OS_PAINT_ACTIONS_MAX (16 * 1024 * 1024)      /* the largest paints.maxActionsBytes */
#define OS_CURSOR_MAX (20 + 1 + OS_PAINT_ID_MAX + 1) /* "<ms>.<id>" with its NUL */

/* One drawing as a store hands it out: strings borrowed, NUL-terminated. */
typedef struct os_paint {
    const char *id;
    const char *actions;
    size_t actions_len;
    int64_t created_at_ms;
    int64_t updated_at_ms;
} os_paint;

/* Where a page starts: after the drawing (created_at_ms, id) in list order. id[0] == '\0' means
 * the first page. */
typedef struct os_paint_cursor {
    int64_t created_at_ms;
    char id[OS_PAINT_ID_MAX + 1];
} os_paint_cursor;

/** 1 when id[0..len) is 1..64 bytes of [A-Za-z0-9_-]; else 0 (also for NULL). */
int os_paint_id_valid(const char *id, size_t len);

/** Decode a list cursor "<createdAt ms>.<id>" (1..19 digits within int64, a valid id) into c.
 *  0 or -1 (c unchanged). */
int os_cursor_decode(const char *text, os_paint_cursor *c);
/** Write the cursor that follows drawing p: "<createdAt ms>.<id>" into out[OS_CURSOR_MAX]. */
void os_cursor_encode(const os_paint *p, char out[OS_CURSOR_MAX]);

/* Argument checks every store runs first (0, WXS_EINVAL, or WXS_ETOOBIG for actions over
 * OS_PAINT_ACTIONS_MAX), so that the stores agree on what they refuse. has_cb: a callback was
 * given. */
int os_paint_check_list(const char *openid, const os_paint_cursor *cursor, unsigned limit,
                        int has_cb);
int os_paint_check_save(const char *openid, const char *id, const char *actions, size_t actions_len,
                        long long max_per_user, int has_cb);
int os_paint_check_del(const char *openid, const char *id, int has_cb);

#endif /* ONESTROKE_PAINT_H */

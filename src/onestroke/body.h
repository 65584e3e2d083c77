/* body.h: One Stroke's request bodies: the fields of a save or delete request (JSON or
 * application/x-www-form-urlencoded), and the JSON nesting check. Pure: bytes in, fields out. */
#ifndef ONESTROKE_BODY_H
#define ONESTROKE_BODY_H

#include <stddef.h>

/** The fields of a save or delete request body, owned (free with os_body_clear). */
typedef struct os_body {
    char *id;      /* NULL when the body has none */
    char *actions; /* NULL when the body has none; NUL-terminated */
    size_t actions_len;
} os_body;

/** Parse a request body: JSON ({"id":..,"actions":..}; actions a string, or an array/object
 *  which is kept as its compact JSON text) when content_type is application/json or the body
 *  starts with '{', else application/x-www-form-urlencoded. Returns 0, or WXS_EPARSE (or
 *  WXS_ENOMEM) with a wire reason in *reason ("ERR_BAD_BODY", "ERR_BAD_ID", "ERR_BAD_ACTIONS",
 *  "ERR_INTERNAL") and a message in err; out is then empty. */
int os_body_parse(const char *content_type, const char *body, size_t len, int max_depth,
                  os_body *out, const char **reason, char *err, size_t errlen);
/** Free the fields and empty b. NULL is a no-op. */
void os_body_clear(os_body *b);

#endif /* ONESTROKE_BODY_H */

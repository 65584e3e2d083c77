/* store_mongo.h: the MongoDB drawing store's pieces that need no server (document mapping,
 * error mapping, the decisions between a save's steps), defined in store_mongo_doc.c, used by
 * the store in store_mongo.c and exposed so the unit tests can check them; and the store's
 * test hook. Includes libbson: only those two files and tests include this header, never
 * session logic. */
#ifndef ONESTROKE_STORE_MONGO_H
#define ONESTROKE_STORE_MONGO_H

#include "store.h"
#include "util.h"

#include <bson/bson.h>

#define OS_MONGO_COLLECTION "paints"
#define OS_MONGO_DEFAULT_DATABASE "weapp"
#define OS_MONGO_URI_MAX 4096              /* longest URI built or accepted, bytes */
#define OS_MONGO_SELECTION_TIMEOUT_MS 2000 /* serverSelectionTimeoutMS unless the URI sets it */
#define OS_MONGO_CONNECT_TIMEOUT_MS 2000   /* connectTimeoutMS unless the URI sets it */
#define OS_MONGO_SOCKET_TIMEOUT_MS 10000   /* socketTimeoutMS unless the URI sets it */

/* The fields of a drawing's document (see the document mapping below). */
#define OS_MONGO_FIELD_OPENID "openId"
#define OS_MONGO_FIELD_ID "id"
#define OS_MONGO_FIELD_ACTIONS "actions"
#define OS_MONGO_FIELD_CREATED "createdAt"
#define OS_MONGO_FIELD_UPDATED "updatedAt"

/* What a failed libmongoc call means for the store. */
typedef enum os_mongo_error_class {
    OS_MONGO_OK = 0,        /* no error (domain 0) */
    OS_MONGO_UNREACHABLE,   /* no server selectable, network, node shutting down/stepping down */
    OS_MONGO_AUTH,          /* authentication or authorization failed: check the credentials */
    OS_MONGO_DUPLICATE_KEY, /* E11000: a concurrent upsert inserted the same (openId, id) */
    OS_MONGO_TIMEOUT,       /* the server gave up (MaxTimeMSExpired) */
    OS_MONGO_FAILED,        /* any other error */
} os_mongo_error_class;

/** Classify a bson_error_t by its domain and code (libmongoc error API version 2; the version 1
 *  domains for server errors, COMMAND, QUERY, COLLECTION, INSERT, WRITE_CONCERN, too). */
os_mongo_error_class os_mongo_error_classify(uint32_t domain, uint32_t code);
/** A short name for logs ("unreachable", "duplicate key"...); never NULL. */
const char *os_mongo_error_class_name(os_mongo_error_class c);
/** The status an op reports for that error: 0 for no error, else WXS_ESTORE (a store that is
 *  down, refuses us or fails is all the same to a caller: 503, retry later). */
int os_mongo_error_status(uint32_t domain, uint32_t code);
/** 1 when key[0..len) contains "password" in any case (a URI option or a log line that may
 *  hold a secret), else 0. */
int os_mongo_name_has_password(const char *key, size_t len);

/* ---- document mapping. A drawing is stored as
 *   {openId: <string>, id: <string>, actions: <string>, createdAt: <date>, updatedAt: <date>}
 * The builders append to an initialized, empty bson_t and return 0, or WXS_ETOOBIG when the
 * document would exceed BSON's size limit (the bson_t is then unspecified: destroy it). */

/** Append the UTF-8 string s[0..len) under key: 1, or 0 when it does not fit (len over
 *  INT32_MAX or the document over BSON's size limit). */
int os_mongo_append_str(bson_t *doc, const char *key, const char *s, size_t len);
/** The whole document of openid's drawing p. */
int os_mongo_paint_to_bson(bson_t *doc, const char *openid, const os_paint *p);
/** Read a drawing out of a document (from a list, so openId is not needed): id must be a valid
 *  drawing id, actions a string, createdAt a date; updatedAt, when missing, is createdAt. Only
 *  those fields are read, wherever they stand: any other (_id, openId, a field added later) is
 *  ignored, so a server that ignores the list's projection is read alike. The strings in *out
 *  borrow from doc. 0 or WXS_EPARSE. */
int os_mongo_paint_from_bson(const bson_t *doc, os_paint *out);
/** {openId, id}: selects one drawing of one user. */
int os_mongo_key_filter(bson_t *doc, const char *openid, const char *id);
/** {$set: {actions, updatedAt: now}, $setOnInsert: {createdAt: now}} */
int os_mongo_save_update(bson_t *doc, const char *actions, size_t actions_len, int64_t now_ms);
/** The page after cursor (NULL or id "" = first page):
 *  {openId} or {openId, createdAt: {$lte: c.t}, $or: [{createdAt: {$lt: c.t}}, {id: {$lt: c.id}}]}
 *  (the $lte bound lets the server seek the index {openId: 1, createdAt: -1, id: -1}). */
int os_mongo_list_filter(bson_t *doc, const char *openid, const os_paint_cursor *cursor);
/** {sort: {createdAt: -1, id: -1}, limit: limit + 1, projection: {_id: 0, ...}}. The projection
 *  only saves bandwidth: nothing relies on it (see os_mongo_paint_from_bson). */
int os_mongo_list_opts(bson_t *doc, unsigned limit);

/* ---- a save's steps. store_mongo.c runs them; the decisions are here, to be tested alone.
 * A save updates an existing drawing; for a new id it counts the user's drawings, then upserts.
 * A duplicate key on the upsert (E11000: a concurrent save inserted the same {openId, id}
 * between the update and the upsert) is followed by one update without upsert. A save is
 * acknowledged only when a step reports the drawing written. */
typedef enum os_mongo_save_step {
    OS_MONGO_SAVE_UPDATE = 0, /* update_one(key, update): an existing drawing */
    OS_MONGO_SAVE_COUNT,      /* count_documents({openId}, limit max): the per-user limit */
    OS_MONGO_SAVE_UPSERT,     /* update_one(key, update, upsert): a new drawing */
    OS_MONGO_SAVE_RETRY,      /* update_one(key, update) after a duplicate key on the upsert */
    OS_MONGO_SAVE_DONE,       /* written: acknowledge (0) */
    OS_MONGO_SAVE_FULL,       /* the user has max drawings: WXS_ETOOBIG, nothing written */
    OS_MONGO_SAVE_FAILED,     /* an error, or a retry that matched nothing: WXS_ESTORE */
} os_mongo_save_step;

/** The step after `step`, from its outcome: ok when the call succeeded, else the error's
 *  domain and code (libmongoc error API 2); n is what the reply counted (matchedCount +
 *  upsertedCount of an update, the count of COUNT); max is the per-user limit. A successful
 *  upsert is DONE; a retry that matched nothing is FAILED (the drawing it collided with was
 *  deleted meanwhile, or the key was another unique index's: nothing of this save is stored).
 *  Each step leads to a later one, so a save runs at most four calls. */
os_mongo_save_step os_mongo_save_next(os_mongo_save_step step, int ok, uint32_t domain,
                                      uint32_t code, int64_t n, long long max);
/** A step's name for logs and test messages ("update", "count"...); never NULL. */
const char *os_mongo_save_step_name(os_mongo_save_step step);
/** The number under field in a command's reply (int32, int64 or double), or 0 when the field
 *  is missing or not a number (a reply libmongoc left empty after an error). */
int64_t os_mongo_reply_count(const bson_t *reply, const char *field);

/** Test hook: when set, called on the pool thread before each step of a save is sent. */
extern void (*os_store_mongo_save_hook)(os_mongo_save_step step, const char *openid,
                                        const char *id);

#endif /* ONESTROKE_STORE_MONGO_H */

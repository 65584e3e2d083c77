/* store_redis_cluster.c: the Redis session store on a Redis Cluster (redis.cluster set): the
 * store's ops routed by key slot (lib/redis_cluster.h), and the login and the token sessions'
 * writes as ordered single-key steps, since their keys live in different slots and cannot be one
 * script. */
#include "redis_cluster.h"
#include "redis_op.h"
#include "redis_token.h"
#include "store.h"

#include <hiredis/read.h> /* REDIS_REPLY_* */
#include <stdio.h>
#include <string.h>

/* The key layout is the compatible one (lib/store.h). The login, in this order (docs/protocol.md,
 * "Redis Cluster"):
 *   1. SET <prefix><code> user_json EX ttl        (with the remembered exchange's SET beside it)
 *   2. SET <prefix><openId> "\"<code>\"" EX ttl GET   (Redis >= 6.2: swaps the pointer,
 *                                                       returning the previous one atomically)
 *   3. when step 2 returned another code: DEL <prefix><that code>
 * Each pointer swap hands the code it replaced to exactly one login, which deletes it; the code
 * the pointer names last is deleted by nobody. So whatever the interleaving of two logins of one
 * user, one session stays live: the one the pointer names. A step that fails ends the login with
 * WXS_ESTORE (never acknowledged); what the earlier steps wrote expires with its TTL.
 *
 * Session writes (steps 1 to 3, set_ex) wait for redis.waitReplicas replicas (WAIT, on by
 * default with a cluster: 1); the exchange claim (set_nx_ex), del and del_eq do not, as with
 * Sentinel (lib/store_redis.c). del_eq is one script on one key (lib/redis_op.h), sent with its
 * body (EVAL: a node may not have it loaded) to the key's node, and redirected as any command.
 *
 * The token ops (docs/protocol.md, "On Redis Cluster"; their steps are listed at enum
 * token_step below): a record's key is found from the token alone, so the record and the user's
 * index live in different slots. token_put writes the record first, then the index, then prunes
 * and caps it; the record's write and the index's wait for replicas as the login's do; a
 * session's renewal (token_touch) waits too; the logouts and the cap's deletions do not, as del.
 * The index is read through a one-key script that returns its hashes as one string (the cluster
 * client hands the store one value per reply). */

#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_WAIT_TIMEOUT_MS 500
#define KEY_BYTES (WXS__STORE_MAX_PREFIX + WXS__STORE_MAX_KEY)

typedef struct cluster_store {
    wxs__store base;
    wxs__cluster *cl;
    char *prefix;
    size_t prefix_len;
    int closing;
} cluster_store;

/* One get / set / del / del_eq op awaiting its reply. */
typedef struct key_op {
    wxs__redis_op kind;
    wxs__store_get_cb get_cb;
    wxs__store_done_cb done_cb;
    void *arg;
} key_op;

#define RKEY(st, k, n) ((wxs__resp_arg){(st)->prefix, (st)->prefix_len, (k), (n)})

/* The slot of <prefix><key>. */
static unsigned key_slot(const cluster_store *st, const char *key, size_t klen)
{
    char full[KEY_BYTES];
    memcpy(full, st->prefix, st->prefix_len);
    memcpy(full + st->prefix_len, key, klen);
    return wxs__cluster_key_slot(full, st->prefix_len + klen);
}

static void key_op_done(void *arg, int status, const wxs__cluster_reply *r)
{
    key_op *op = arg;
    if (status == 0) {
        status = wxs__redis_op_status(op->kind, r->type, r->integer);
        if (status == WXS_ESTORE)
            wxs__warn("redis cluster: unexpected reply type %d", r->type);
    }
    if (op->get_cb != NULL)
        op->get_cb(op->arg, status, status == 0 ? r->str : NULL, status == 0 ? r->len : 0);
    else
        op->done_cb(op->arg, status);
    wxs__free(op);
}

/* Send one routed command for a get / set / del / del_eq op. */
static int key_op_send(cluster_store *st, key_op *op, const char *key, size_t klen, int flags,
                       const char *name, int argc, const wxs__resp_arg *argv)
{
    int rc = st->closing ? WXS_ECANCELED : 0;
    if (rc == 0)
        rc = wxs__cluster_command(st->cl, key_slot(st, key, klen), flags, name, argc, argv,
                                  key_op_done, op);
    if (rc < 0)
        wxs__free(op);
    return rc;
}

static key_op *key_op_new(wxs__redis_op kind, wxs__store_get_cb get_cb, wxs__store_done_cb done_cb,
                          void *arg)
{
    key_op *op = wxs__calloc(1, sizeof *op);
    if (op != NULL) {
        op->kind = kind;
        op->get_cb = get_cb;
        op->done_cb = done_cb;
        op->arg = arg;
    }
    return op;
}

/* GET or DEL of one key: the callback is get_cb (GET) or done_cb (DEL). */
static int key_cmd(wxs__store *base, wxs__redis_op kind, const char *key, size_t klen,
                   wxs__store_get_cb get_cb, wxs__store_done_cb done_cb, void *arg)
{
    cluster_store *st = (cluster_store *)base;
    const char *name = kind == WXS__REDIS_GET ? "GET" : "DEL";
    int rc = get_cb == NULL && done_cb == NULL ? WXS_EINVAL : wxs__store_check_key(key, klen);
    key_op *op = rc == 0 ? key_op_new(kind, get_cb, done_cb, arg) : NULL;
    if (rc < 0 || op == NULL)
        return rc < 0 ? rc : WXS_ENOMEM;
    wxs__resp_arg argv[] = {RSTR(name), RKEY(st, key, klen)};
    return key_op_send(st, op, key, klen, 0, name, 2, argv);
}

static int rc_get(wxs__store *base, const char *key, size_t klen, wxs__store_get_cb cb, void *arg)
{
    return key_cmd(base, WXS__REDIS_GET, key, klen, cb, NULL, arg);
}

static int set_common(wxs__store *base, int nx, const char *key, size_t klen, const char *val,
                      size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    cluster_store *st = (cluster_store *)base;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_key(key, klen);
    if (rc == 0)
        rc = wxs__store_check_value(val, vlen, ttl_s);
    key_op *op =
        rc == 0 ? key_op_new(nx ? WXS__REDIS_SET_NX : WXS__REDIS_SET, NULL, cb, arg) : NULL;
    if (rc < 0 || op == NULL)
        return rc < 0 ? rc : WXS_ENOMEM;
    char ttl[24];
    wxs__resp_arg argv[] = {RSTR("SET"),
                            RKEY(st, key, klen),
                            RBYTES(val, vlen),
                            RSTR("EX"),
                            RBYTES(ttl, wxs__resp_u64(ttl, (unsigned long long)ttl_s)),
                            RSTR("NX")};
    return key_op_send(st, op, key, klen, nx ? 0 : WXS__CLUSTER_WRITE, nx ? "SET NX" : "SET",
                       nx ? 6 : 5, argv);
}

static int rc_set_ex(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return set_common(base, 0, key, klen, val, vlen, ttl_s, cb, arg);
}

static int rc_set_nx_ex(wxs__store *base, const char *key, size_t klen, const char *val,
                        size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return set_common(base, 1, key, klen, val, vlen, ttl_s, cb, arg);
}

static int rc_del(wxs__store *base, const char *key, size_t klen, wxs__store_done_cb cb, void *arg)
{
    return key_cmd(base, WXS__REDIS_DEL, key, klen, NULL, cb, arg);
}

/* Compare, then delete (store.h): the one-key script on the key's node, not WAITed. */
static int rc_del_eq(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     wxs__store_done_cb cb, void *arg)
{
    cluster_store *st = (cluster_store *)base;
    wxs__redis_del_eq_cmd cmd;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_del_eq(key, klen, val, vlen);
    key_op *op = rc == 0 ? key_op_new(WXS__REDIS_DEL_EQ, NULL, cb, arg) : NULL;
    if (rc < 0 || op == NULL)
        return rc < 0 ? rc : WXS_ENOMEM;
    wxs__redis_del_eq_cmd_init(&cmd, st->prefix, st->prefix_len, key, klen, val, vlen, NULL, 1);
    return key_op_send(st, op, key, klen, 0, "compare-then-delete", cmd.argc, cmd.argv);
}

/* ------------------------------------------------------------ the login */

/* A login in progress: its arguments copied into bytes[]. */
typedef struct login_op {
    cluster_store *st;
    wxs__login lw;
    const char *code_json;
    size_t code_json_len;
    int in_flight; /* commands awaiting their answers */
    int status;    /* the first failure, or 0 */
    wxs__store_done_cb cb;
    void *arg;
    char bytes[];
} login_op;

/* Send one of the login's commands (each a session write, so WAITed when configured). */
static int login_send(login_op *op, const char *key, size_t klen, const char *name, int argc,
                      const wxs__resp_arg *argv, wxs__cluster_cb cb)
{
    cluster_store *st = op->st;
    int rc = st->closing ? WXS_ECANCELED : 0;
    if (rc == 0)
        rc = wxs__cluster_command(st->cl, key_slot(st, key, klen), WXS__CLUSTER_WRITE, name, argc,
                                  argv, cb, op);
    if (rc == 0)
        op->in_flight++;
    else if (op->status == 0)
        op->status = rc;
    return rc;
}

/* One of the login's commands ended: once none is in flight, the login's answer. */
static void login_end_one(login_op *op, int status)
{
    if (status < 0 && op->status == 0)
        op->status = status;
    if (--op->in_flight > 0)
        return;
    op->cb(op->arg, op->status);
    wxs__free(op);
}

/* A step whose reply says nothing more than its status (the remembered exchange's SET, step 3's
 * DEL) ended. */
static void step_ended(void *arg, int status, const wxs__cluster_reply *r)
{
    (void)r;
    login_end_one(arg, status);
}

/* Step 2 answered with the previous pointer: step 3 deletes the code it named, unless it is this
 * login's own (a retried login of the same code). */
static void pointer_swapped(void *arg, int status, const wxs__cluster_reply *r)
{
    login_op *op = arg;
    char prev[WXS__STORE_MAX_LOGIN_ID];
    size_t prev_len = 0;
    if (status == 0 && r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)
        status = WXS_ESTORE;
    if (status == 0 && op->status == 0 && r->type == REDIS_REPLY_STRING &&
        wxs__store_code_parse(r->str, r->len, prev, sizeof prev, &prev_len) == 0 && prev_len > 0 &&
        (prev_len != op->lw.code_len || memcmp(prev, op->lw.code, prev_len) != 0)) {
        wxs__resp_arg argv[] = {RSTR("DEL"), RKEY(op->st, prev, prev_len)};
        (void)login_send(op, prev, prev_len, "login DEL", 2, argv, step_ended);
    }
    login_end_one(op, status);
}

/* Step 1 answered: the code's record is written; step 2 swaps the openId pointer. */
static void record_written(void *arg, int status, const wxs__cluster_reply *r)
{
    login_op *op = arg;
    const wxs__login *l = &op->lw;
    (void)r;
    if (status == 0 && op->status == 0) {
        char ttl[24];
        wxs__resp_arg argv[] = {RSTR("SET"),
                                RKEY(op->st, l->openid, l->openid_len),
                                RBYTES(op->code_json, op->code_json_len),
                                RSTR("EX"),
                                RBYTES(ttl, wxs__resp_u64(ttl, (unsigned long long)l->ttl_s)),
                                RSTR("GET")};
        (void)login_send(op, l->openid, l->openid_len, "login SET GET", 6, argv, pointer_swapped);
    }
    login_end_one(op, status);
}

/* A login op holding copies of lw's bytes and of the code as a JSON string. */
static login_op *login_op_new(cluster_store *st, const wxs__login *lw, const wxs__buf *json)
{
    login_op *op = wxs__calloc(1, sizeof *op + wxs__redis_login_size(lw, json->len));
    if (op == NULL)
        return NULL;
    op->st = st;
    op->code_json = wxs__redis_login_copy(&op->lw, op->bytes, lw, json->data, json->len);
    op->code_json_len = json->len;
    return op;
}

/* Step 1 (and the remembered exchange beside it). The op is answered once every command it
 * sent has ended; when the first cannot be sent, nothing was, and the error is returned. */
static int rc_login(wxs__store *base, const wxs__login *lw, wxs__store_done_cb cb, void *arg)
{
    cluster_store *st = (cluster_store *)base;
    login_op *op = NULL;
    wxs__buf json;
    char ttl[24], remember_ttl[24];
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_login(lw);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    wxs__buf_init(&json, 6 * WXS__STORE_MAX_LOGIN_ID + 2);
    rc = wxs__store_code_json(&json, lw->code, lw->code_len);
    if (rc == 0 && (op = login_op_new(st, lw, &json)) == NULL)
        rc = WXS_ENOMEM;
    if (rc < 0)
        goto out;
    const wxs__login *l = &op->lw;
    op->cb = cb;
    op->arg = arg;
    op->in_flight = 1; /* this function's own hold: released below */
    wxs__resp_arg record[] = {RSTR("SET"), RKEY(st, l->code, l->code_len),
                              RBYTES(l->user_json, l->user_len), RSTR("EX"),
                              RBYTES(ttl, wxs__resp_u64(ttl, (unsigned long long)l->ttl_s))};
    rc = login_send(op, l->code, l->code_len, "login SET", 5, record, record_written);
    if (rc < 0) {
        wxs__free(op);
        goto out;
    }
    if (l->remember.key != NULL) {
        const wxs__remember *m = &l->remember;
        wxs__resp_arg remember[] = {
            RSTR("SET"), RKEY(st, m->key, m->key_len), RBYTES(m->value, m->value_len), RSTR("EX"),
            RBYTES(remember_ttl, wxs__resp_u64(remember_ttl, (unsigned long long)m->ttl_s))};
        (void)login_send(op, m->key, m->key_len, "login SET exchange", 5, remember, step_ended);
    }
    op->in_flight--; /* commands are in flight: their callbacks come later, never now */
out:
    wxs__buf_free(&json);
    return rc;
}

/* ------------------------------------------------------------ token sessions */

/* The steps of the token ops, in the order each op runs them (next_step). */
enum token_step {
    PUT_RECORD,   /* SET the record (and the remembered exchange beside it) */
    PUT_INDEX,    /* ZADD + EXPIRE the index, and read its hashes (one script on its key) */
    PUT_PRUNE,    /* EXISTS of each other hash's record */
    PUT_CAP,      /* past the cap: DEL the oldest live records */
    PUT_UNLIST,   /* ZREM the hashes whose record is gone or was ended */
    TOUCH_SET,    /* SET the record XX */
    DEL_RECORD,   /* DEL the record */
    DEL_UNLIST,   /* ZREM its hash from the index */
    USER_LIST,    /* read the index's hashes */
    USER_RECORDS, /* DEL each record */
    USER_INDEX,   /* DEL the index */
    STEP_DONE
};

static const enum token_step next_step[] = {
    [PUT_RECORD] = PUT_INDEX,    [PUT_INDEX] = PUT_PRUNE,  [PUT_PRUNE] = PUT_CAP,
    [PUT_CAP] = PUT_UNLIST,      [PUT_UNLIST] = STEP_DONE, [TOUCH_SET] = STEP_DONE,
    [DEL_RECORD] = DEL_UNLIST,   [DEL_UNLIST] = STEP_DONE, [USER_LIST] = USER_RECORDS,
    [USER_RECORDS] = USER_INDEX, [USER_INDEX] = STEP_DONE,
};

typedef struct token_op token_op;

/* A hash of the user's index, as read: where it is in op->list, and whether it leaves. */
typedef struct index_entry {
    token_op *op;
    const char *hash;
    int gone; /* its record is gone, or the cap ended it: ZREM it */
} index_entry;

/* A token op in progress: its arguments copied into bytes[]. */
struct token_op {
    cluster_store *st;
    enum token_step step; /* the next step to run */
    int in_flight;        /* commands of the current step awaiting their answers */
    int status;           /* the first failure, or 0 */
    int result;           /* the op's status once it succeeds */
    wxs__store_done_cb cb;
    void *arg;
    wxs__token_put args;
    char *list; /* the index's hashes, WXS__TOKEN_HASH_LEN bytes each, oldest first */
    index_entry *entries;
    int n;
    char bytes[];
};

static void token_advance(token_op *op);

/* One command of the current step ended: once none is in flight, the next step. */
static void token_one_ended(token_op *op, int status)
{
    if (status < 0 && op->status == 0)
        op->status = status;
    if (--op->in_flight == 0)
        token_advance(op);
}

/* Send one of the op's commands on key's slot (flags: WXS__CLUSTER_WRITE to wait for
 * replicas); cb gets cb_arg (the op, or one of its index entries). A command that cannot be sent
 * fails the op. */
static void token_send(token_op *op, const char *key, size_t klen, int flags, const char *name,
                       int argc, const wxs__resp_arg *argv, wxs__cluster_cb cb, void *cb_arg)
{
    cluster_store *st = op->st;
    int rc = st->closing ? WXS_ECANCELED : 0;
    if (rc == 0)
        rc = wxs__cluster_command(st->cl, key_slot(st, key, klen), flags, name, argc, argv, cb,
                                  cb_arg);
    if (rc == 0)
        op->in_flight++;
    else if (op->status == 0)
        op->status = rc;
}

/* Send one of lib/redis_token.h's commands for op (a script by its body: a Cluster node may not
 * have it loaded, and a NOSCRIPT would reach the store as a failure), on its first key's slot. */
static void token_send_cmd(token_op *op, wxs__redis_token_op which, int flags, const char *name,
                           wxs__cluster_cb cb)
{
    wxs__redis_token_cmd cmd;
    cluster_store *st = op->st;
    wxs__redis_token_cmd_init(&cmd, which, &op->args, st->prefix, st->prefix_len, NULL, 1);
    const wxs__resp_arg *key = &cmd.argv[which == WXS__REDIS_TOKEN_TOUCH ? 1 : 3];
    token_send(op, key->b, key->blen, flags, name, cmd.argc, cmd.argv, cb, op);
}

/* A command whose answer is its status only (SET, ZREM, DEL of the index). */
static void token_step_ended(void *arg, int status, const wxs__cluster_reply *r)
{
    (void)r;
    token_one_ended(arg, status);
}

/* A record's DEL answered: count the live session it ended. */
static void count_deleted(token_op *op, int status, const wxs__cluster_reply *r)
{
    if (status == 0 && r->type != REDIS_REPLY_INTEGER)
        status = WXS_ESTORE;
    if (status == 0)
        op->result += (int)r->integer;
    token_one_ended(op, status);
}

/* The DEL of an indexed record (the cap, logout all). */
static void entry_deleted(void *arg, int status, const wxs__cluster_reply *r)
{
    count_deleted(((index_entry *)arg)->op, status, r);
}

/* The DEL of the op's own record (logout). */
static void record_deleted(void *arg, int status, const wxs__cluster_reply *r)
{
    count_deleted(arg, status, r);
}

/* EXISTS of an indexed hash's record answered: a record gone leaves the index. */
static void record_checked(void *arg, int status, const wxs__cluster_reply *r)
{
    index_entry *e = arg;
    if (status == 0 && r->type != REDIS_REPLY_INTEGER)
        status = WXS_ESTORE;
    if (status == 0 && r->integer == 0)
        e->gone = 1;
    token_one_ended(e->op, status);
}

/* SET ... XX answered: 1 renewed, 0 gone. */
static void record_touched(void *arg, int status, const wxs__cluster_reply *r)
{
    token_op *op = arg;
    if (status == 0)
        status = wxs__redis_token_status(WXS__REDIS_TOKEN_TOUCH, r->type, r->integer);
    if (status >= 0)
        op->result = status;
    token_one_ended(op, status < 0 ? status : 0);
}

/* The index's hashes, oldest first: kept as the op's entries. */
static void index_read(void *arg, int status, const wxs__cluster_reply *r)
{
    token_op *op = arg;
    int n = status == 0 && r->type == REDIS_REPLY_STRING
                ? wxs__redis_token_list_count(r->str, r->len)
                : -1;
    if (status == 0 && n < 0) {
        wxs__warn("redis cluster: a token index that this library did not write (%zu bytes)",
                  r->type == REDIS_REPLY_STRING ? (size_t)r->len : (size_t)0);
        status = WXS_ESTORE;
    }
    if (status == 0 && n > 0) {
        op->list = wxs__malloc(r->len);
        op->entries = wxs__calloc((size_t)n, sizeof *op->entries);
        if (op->list == NULL || op->entries == NULL)
            status = WXS_ENOMEM;
        else
            memcpy(op->list, r->str, r->len);
    }
    for (int i = 0; status == 0 && i < n; i++)
        op->entries[i] = (index_entry){op, op->list + (size_t)i * WXS__TOKEN_HASH_LEN, 0};
    if (status == 0)
        op->n = n;
    token_one_ended(op, status);
}

/* For each entry that f selects (oldest first, at most max), `name <the record's key>` with
 * answer cb; with leaves, the entry is marked to leave the index. */
static void each_record(token_op *op, const char *name, int (*f)(const index_entry *e), int max,
                        int leaves, wxs__cluster_cb cb)
{
    char key[WXS__REDIS_TOKEN_KEY_LEN];
    for (int i = 0; i < op->n && max > 0 && op->status == 0; i++) {
        index_entry *e = &op->entries[i];
        if (!f(e))
            continue;
        size_t klen = wxs__redis_token_key(key, e->hash);
        wxs__resp_arg argv[] = {RSTR(name), RKEY(op->st, key, klen)};
        token_send(op, key, klen, 0, name, 2, argv, cb, e);
        e->gone |= leaves;
        max--;
    }
}

/* Another session's entry (not the one being written), and live as far as known. */
static int other_live(const index_entry *e)
{
    return !e->gone && memcmp(e->hash, e->op->args.hash, WXS__TOKEN_HASH_LEN) != 0;
}

static int any_entry(const index_entry *e)
{
    (void)e;
    return 1;
}

/* ZREM of the entries that leave the index (none: nothing sent). */
static void unlist_gone(token_op *op)
{
    char key[WXS__REDIS_TOKENS_KEY_MAX];
    size_t klen = wxs__redis_tokens_key(key, op->args.openid, op->args.openid_len);
    wxs__resp_arg *argv = wxs__calloc((size_t)op->n + 2, sizeof *argv);
    int argc = 2;
    if (argv == NULL) {
        op->status = op->status < 0 ? op->status : WXS_ENOMEM;
        return;
    }
    argv[0] = RSTR("ZREM");
    argv[1] = RKEY(op->st, key, klen);
    for (int i = 0; i < op->n; i++)
        if (op->entries[i].gone)
            argv[argc++] = RBYTES(op->entries[i].hash, WXS__TOKEN_HASH_LEN);
    if (argc > 2)
        token_send(op, key, klen, 0, "token ZREM", argc, argv, token_step_ended, op);
    wxs__free(argv);
}

/* Past the cap: the number of live sessions of the index (the one written included) over it. */
static int over_cap(const token_op *op)
{
    int live = 1; /* the session being written */
    for (int i = 0; i < op->n; i++)
        live += other_live(&op->entries[i]);
    return live > op->args.cap ? live - (int)op->args.cap : 0;
}

/* The put's record and remembered exchange, each a session write. */
static void put_record(token_op *op)
{
    const wxs__token_put *a = &op->args;
    const wxs__remember *m = &a->remember;
    char key[WXS__REDIS_TOKEN_KEY_LEN], ttl[24], remember_ttl[24];
    size_t klen = wxs__redis_token_key(key, a->hash);
    wxs__resp_arg record[] = {RSTR("SET"), RKEY(op->st, key, klen),
                              RBYTES(a->record, a->record_len), RSTR("EX"),
                              RBYTES(ttl, wxs__resp_u64(ttl, (unsigned long long)a->ttl_s))};
    token_send(op, key, klen, WXS__CLUSTER_WRITE, "token SET", 5, record, token_step_ended, op);
    if (m->key != NULL && op->status == 0) {
        wxs__resp_arg remember[] = {
            RSTR("SET"), RKEY(op->st, m->key, m->key_len), RBYTES(m->value, m->value_len),
            RSTR("EX"),
            RBYTES(remember_ttl, wxs__resp_u64(remember_ttl, (unsigned long long)m->ttl_s))};
        token_send(op, m->key, m->key_len, WXS__CLUSTER_WRITE, "token SET exchange", 5, remember,
                   token_step_ended, op);
    }
}

/* A logout's DEL of its record. */
static void del_own_record(token_op *op)
{
    char key[WXS__REDIS_TOKEN_KEY_LEN];
    size_t klen = wxs__redis_token_key(key, op->args.hash);
    wxs__resp_arg argv[] = {RSTR("DEL"), RKEY(op->st, key, klen)};
    token_send(op, key, klen, 0, "token DEL", 2, argv, record_deleted, op);
}

/* A logout's ZREM of its hash from the index (hash set), or logout all's DEL of the index. */
static void index_forget(token_op *op, int one_hash)
{
    char key[WXS__REDIS_TOKENS_KEY_MAX];
    size_t klen = wxs__redis_tokens_key(key, op->args.openid, op->args.openid_len);
    wxs__resp_arg argv[] = {one_hash ? RSTR("ZREM") : RSTR("DEL"), RKEY(op->st, key, klen),
                            RBYTES(op->args.hash, WXS__TOKEN_HASH_LEN)};
    token_send(op, key, klen, 0, one_hash ? "token ZREM" : "token DEL index", one_hash ? 3 : 2,
               argv, token_step_ended, op);
}

/* Send the commands of one step (none, when it has nothing to do). */
static void token_run_step(token_op *op, enum token_step step)
{
    switch (step) {
    case PUT_RECORD:
        put_record(op);
        break;
    case PUT_INDEX:
        token_send_cmd(op, WXS__REDIS_TOKEN_INDEX_ADD, WXS__CLUSTER_WRITE, "token index",
                       index_read);
        break;
    case PUT_PRUNE:
        each_record(op, "EXISTS", other_live, op->n, 0, record_checked);
        break;
    case PUT_CAP:
        each_record(op, "DEL", other_live, over_cap(op), 1, entry_deleted);
        break;
    case PUT_UNLIST:
        unlist_gone(op);
        break;
    case TOUCH_SET:
        token_send_cmd(op, WXS__REDIS_TOKEN_TOUCH, WXS__CLUSTER_WRITE, "token SET XX",
                       record_touched);
        break;
    case DEL_RECORD:
        del_own_record(op);
        break;
    case DEL_UNLIST:
        index_forget(op, 1);
        break;
    case USER_LIST:
        token_send_cmd(op, WXS__REDIS_TOKEN_INDEX_LIST, 0, "token index", index_read);
        break;
    case USER_RECORDS:
        each_record(op, "DEL", any_entry, op->n, 0, entry_deleted);
        break;
    case USER_INDEX:
        index_forget(op, 0);
        break;
    case STEP_DONE:
        break;
    }
}

static void token_op_free(token_op *op)
{
    wxs__free(op->list);
    wxs__free(op->entries);
    wxs__free(op);
}

/* Run the op's steps from op->step on: each sends its commands and the op waits for their
 * answers; a step with nothing to send is passed. Once the last has run, or one failed, the
 * op's answer. */
static void token_advance(token_op *op)
{
    while (op->in_flight == 0) {
        if (op->status < 0 || op->step == STEP_DONE) {
            op->cb(op->arg, op->status < 0 ? op->status : op->result);
            token_op_free(op);
            return;
        }
        enum token_step step = op->step;
        op->step = next_step[step];
        token_run_step(op, step);
    }
}

/* Start a token op at its first step with its arguments args (checked by the caller: rc). When
 * nothing could be sent, nothing was, and the error is returned; else the op answers once its
 * steps ran, never before this returns. */
static int token_start(wxs__store *base, enum token_step first, const wxs__token_put *args,
                       wxs__store_done_cb cb, void *arg, int rc)
{
    cluster_store *st = (cluster_store *)base;
    if (rc == 0 && cb == NULL)
        rc = WXS_EINVAL;
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    token_op *op = rc == 0 ? wxs__calloc(1, sizeof *op + wxs__redis_token_size(args)) : NULL;
    if (rc < 0 || op == NULL)
        return rc < 0 ? rc : WXS_ENOMEM;
    wxs__redis_token_copy(&op->args, op->bytes, args);
    op->st = st;
    op->cb = cb;
    op->arg = arg;
    op->step = next_step[first];
    token_run_step(op, first);
    if (op->in_flight > 0)
        return 0;
    rc = op->status < 0 ? op->status : WXS_ESTORE;
    token_op_free(op);
    return rc;
}

static int rc_token_put(wxs__store *base, const wxs__token_put *tp, wxs__store_done_cb cb,
                        void *arg)
{
    return token_start(base, PUT_RECORD, tp, cb, arg, wxs__store_check_token_put(tp));
}

static int rc_token_touch(wxs__store *base, const char *hash, const char *record, size_t record_len,
                          long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {
        .hash = hash, .record = record, .record_len = record_len, .ttl_s = ttl_s};
    int rc = hash == NULL ? WXS_EINVAL : wxs__store_check_token(hash, NULL, 0);
    if (rc == 0)
        rc = wxs__store_check_value(record, record_len, ttl_s);
    return token_start(base, TOUCH_SET, &args, cb, arg, rc);
}

static int rc_token_del(wxs__store *base, const char *hash, const char *openid, size_t openid_len,
                        wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {.hash = hash, .openid = openid, .openid_len = openid_len};
    int rc = hash == NULL || openid == NULL ? WXS_EINVAL
                                            : wxs__store_check_token(hash, openid, openid_len);
    return token_start(base, DEL_RECORD, &args, cb, arg, rc);
}

static int rc_token_del_user(wxs__store *base, const char *openid, size_t openid_len,
                             wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {.openid = openid, .openid_len = openid_len};
    int rc = openid == NULL ? WXS_EINVAL : wxs__store_check_token(NULL, openid, openid_len);
    return token_start(base, USER_LIST, &args, cb, arg, rc);
}

/* ------------------------------------------------------------ open, ready, close */

static int rc_ready(const wxs__store *base)
{
    const cluster_store *st = (const cluster_store *)base;
    return st != NULL && !st->closing && wxs__cluster_ready(st->cl);
}

static void free_store(void *arg)
{
    cluster_store *st = arg;
    wxs__free(st->prefix);
    wxs__free(st);
}

/* Ops in flight end with WXS_ECANCELED once the client's handles closed; then the memory. */
static void rc_close(wxs__store *base)
{
    cluster_store *st = (cluster_store *)base;
    if (st == NULL || st->closing)
        return;
    st->closing = 1;
    wxs__cluster_close(st->cl, free_store, st);
}

/* The number of replicas a session write waits for: redis.waitReplicas, or 1 when it is left
 * to the default (< 0: "auto", 1 with a cluster). */
static long long wait_replicas(const wxs_config *cfg)
{
    return cfg->redis_wait_replicas >= 0 ? cfg->redis_wait_replicas : 1;
}

static int rc_open(wxs__store **out, uv_loop_t *loop, const wxs_config *cfg, char *err,
                   size_t errlen)
{
    const char *prefix = cfg->session_prefix != NULL ? cfg->session_prefix : "";
    const char *why = NULL;
    *out = NULL;
    if (cfg->redis_sentinels != NULL && cfg->redis_sentinels[0] != '\0')
        why = "redis.cluster and redis.sentinels exclude each other";
    else if (cfg->redis_db != 0)
        why = "redis.db must be 0 with redis.cluster (a cluster has database 0 only)";
    else if (strlen(prefix) > WXS__STORE_MAX_PREFIX)
        why = "redis.prefix is longer than 256 bytes";
    if (why != NULL) {
        snprintf(err, errlen, "redis: %s", why);
        return WXS_ECONFIG;
    }
    cluster_store *st = wxs__calloc(1, sizeof *st);
    if (st == NULL || (st->prefix = wxs__strdup(prefix)) == NULL) {
        wxs__free(st);
        return WXS_ENOMEM;
    }
    st->base.ops = &wxs__store_redis_cluster_ops;
    st->prefix_len = strlen(prefix);
    wxs__cluster_opts opts = {
        .seeds = cfg->redis_cluster,
        .password = cfg->redis_password,
        .timeout_ms =
            cfg->redis_timeout_ms > 0 ? (uint64_t)cfg->redis_timeout_ms : DEFAULT_TIMEOUT_MS,
        .wait_replicas = wait_replicas(cfg),
        .wait_timeout_ms = cfg->redis_wait_timeout_ms > 0 ? (uint64_t)cfg->redis_wait_timeout_ms
                                                          : DEFAULT_WAIT_TIMEOUT_MS,
    };
    int rc = wxs__cluster_open(&st->cl, loop, &opts, err, errlen);
    if (rc < 0) {
        free_store(st);
        return rc;
    }
    *out = &st->base;
    return 0;
}

const wxs__store_ops wxs__store_redis_cluster_ops = {
    .name = "redis",
    .open = rc_open,
    .close = rc_close,
    .ready = rc_ready,
    .get = rc_get,
    .set_ex = rc_set_ex,
    .set_nx_ex = rc_set_nx_ex,
    .del = rc_del,
    .del_eq = rc_del_eq,
    .login = rc_login,
    .token_put = rc_token_put,
    .token_touch = rc_token_touch,
    .token_del = rc_token_del,
    .token_del_user = rc_token_del_user,
};

/* store_redis_cluster.c: the Redis session store on a Redis Cluster (redis.cluster set): the
 * store's ops routed by key slot (lib/redis_cluster.h), and the login as ordered single-key
 * writes, since its keys live in different slots and cannot be one script. */
#include "redis_cluster.h"
#include "redis_op.h"
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
 * default with a cluster: 1); the exchange claim (set_nx_ex) and del do not, as with Sentinel
 * (lib/store_redis.c). */

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

/* One get / set / del op awaiting its reply. */
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

/* Send one routed command for a get / set / del op. */
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
    .login = rc_login,
};

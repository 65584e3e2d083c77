/* session_fakes.c: the fake store and fake WeChat client (tests/unit/session_fakes.h). */
#include "session_fakes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the fake store */

typedef struct pending {
    struct pending *next;
    int kind;
    char *key, *val, *code, *openid, *rkey, *rval;
    long long ttl_s, rttl_s;
    long long ttl2_s, cap; /* token_put: the index's life, the cap */
    wxs__store_get_cb get_cb;
    wxs__store_done_cb done_cb;
    void *arg;
} pending;

fake_entry *fake_data_find(fake_data *d, const char *key)
{
    for (fake_entry *e = d->head; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0 && e->expires_s > d->now_s)
            return e;
    return NULL;
}

void fake_data_put(fake_data *d, const char *key, const char *val, long long ttl_s)
{
    fake_entry *e = NULL;
    for (e = d->head; e != NULL && strcmp(e->key, key) != 0; e = e->next)
        ;
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        e->key = strdup(key);
        e->next = d->head;
        d->head = e;
    } else {
        free(e->val);
    }
    e->val = strdup(val);
    e->expires_s = d->now_s + ttl_s;
}

static int data_del(fake_data *d, const char *key)
{
    fake_entry *e = fake_data_find(d, key);
    if (e != NULL)
        e->expires_s = d->now_s; /* expired: as good as gone */
    return e != NULL;
}

void fake_data_clear(fake_data *d)
{
    while (d->head != NULL) {
        fake_entry *e = d->head;
        d->head = e->next;
        free(e->key);
        free(e->val);
        free(e);
    }
}

/* The login write of store.h, on the fake data. */
static void data_login(fake_data *d, const pending *p)
{
    fake_entry *prev = fake_data_find(d, p->openid);
    char *prev_val = prev != NULL ? strdup(prev->val) : NULL;
    char code_json[600];
    snprintf(code_json, sizeof code_json, "\"%s\"", p->code);
    fake_data_put(d, p->code, p->val, p->ttl_s);
    fake_data_put(d, p->openid, code_json, p->ttl_s);
    size_t n = prev_val != NULL ? strlen(prev_val) : 0;
    if (n > 2 && prev_val[0] == '"' && strcmp(prev_val, code_json) != 0) {
        prev_val[n - 1] = '\0';
        data_del(d, prev_val + 1);
    }
    if (p->rkey != NULL)
        fake_data_put(d, p->rkey, p->rval, p->rttl_s);
    free(prev_val);
}

/* ---- token sessions on the fake data: "token:<hash>" records, "tokens:<openid>" an index of
 * hashes separated by spaces, oldest first */

static void token_key(char *out, size_t cap, const char *hash)
{
    snprintf(out, cap, "token:%.64s", hash);
}

int fake_data_index_size(fake_data *d, const char *openid)
{
    char key[300];
    snprintf(key, sizeof key, "tokens:%s", openid);
    fake_entry *e = fake_data_find(d, key);
    int n = 0;
    for (const char *p = e != NULL ? e->val : ""; *p != '\0'; p++)
        n += *p != ' ' && (p == e->val || p[-1] == ' ');
    return n;
}

/* token_put of store.h: prune, write, add, cap; the number of sessions the cap ended. */
static int data_token_put(fake_data *d, const pending *p)
{
    char ikey[300], tkey[80], list[64][65];
    int n = 0, ended = 0;
    snprintf(ikey, sizeof ikey, "tokens:%s", p->openid);
    fake_entry *ix = fake_data_find(d, ikey);
    char *copy = strdup(ix != NULL ? ix->val : "");
    for (char *save = NULL, *h = strtok_r(copy, " ", &save); h != NULL && n < 63;
         h = strtok_r(NULL, " ", &save)) {
        token_key(tkey, sizeof tkey, h);
        if (fake_data_find(d, tkey) != NULL && strcmp(h, p->key) != 0)
            snprintf(list[n++], sizeof list[0], "%s", h);
    }
    free(copy);
    snprintf(list[n++], sizeof list[0], "%s", p->key);
    token_key(tkey, sizeof tkey, p->key);
    fake_data_put(d, tkey, p->val, p->ttl_s);
    int first = 0;
    while (n - first > p->cap) {
        token_key(tkey, sizeof tkey, list[first++]);
        ended += data_del(d, tkey);
    }
    char val[64 * 66 + 1] = "";
    for (int i = first; i < n; i++) {
        strcat(val, i > first ? " " : "");
        strcat(val, list[i]);
    }
    fake_data_put(d, ikey, val, p->ttl2_s);
    if (p->rkey != NULL)
        fake_data_put(d, p->rkey, p->rval, p->rttl_s);
    return ended;
}

/* token_del (p->key a hash) and token_del_user (p->key NULL): the live sessions ended. */
static int data_token_del(fake_data *d, const pending *p)
{
    char ikey[300], tkey[80];
    int ended = 0;
    snprintf(ikey, sizeof ikey, "tokens:%s", p->openid);
    if (p->key != NULL) {
        token_key(tkey, sizeof tkey, p->key);
        return data_del(d, tkey); /* the fake leaves the hash in the index: put prunes it */
    }
    fake_entry *ix = fake_data_find(d, ikey);
    char *copy = strdup(ix != NULL ? ix->val : "");
    for (char *save = NULL, *h = strtok_r(copy, " ", &save); h != NULL;
         h = strtok_r(NULL, " ", &save)) {
        token_key(tkey, sizeof tkey, h);
        ended += data_del(d, tkey);
    }
    free(copy);
    data_del(d, ikey);
    return ended;
}

static void pending_free(pending *p)
{
    free(p->key);
    free(p->val);
    free(p->code);
    free(p->openid);
    free(p->rkey);
    free(p->rval);
    free(p);
}

/* Answer one op: canceled when closing, the configured failure, or its real result. */
static void pending_answer(fake_store *fs, pending *p)
{
    fake_data *d = fs->data;
    int status = fs->closing ? WXS_ECANCELED : fs->fail_later[p->kind];
    if (status == 0) {
        fake_entry *e = p->key != NULL ? fake_data_find(d, p->key) : NULL;
        switch (p->kind) {
        case OP_GET:
            if (e == NULL)
                status = WXS_ENOTFOUND;
            else
                p->get_cb(p->arg, 0, e->val, strlen(e->val));
            break;
        case OP_SET:
            fake_data_put(d, p->key, p->val, p->ttl_s);
            break;
        case OP_SET_NX:
            status = e == NULL;
            if (e == NULL)
                fake_data_put(d, p->key, p->val, p->ttl_s);
            break;
        case OP_DEL:
            status = data_del(d, p->key);
            break;
        case OP_LOGIN:
            data_login(d, p);
            break;
        case OP_TOKEN_PUT:
            status = data_token_put(d, p);
            break;
        case OP_TOKEN_TOUCH: {
            char tkey[80];
            token_key(tkey, sizeof tkey, p->key);
            status = fake_data_find(d, tkey) != NULL;
            if (status)
                fake_data_put(d, tkey, p->val, p->ttl_s);
            break;
        }
        case OP_TOKEN_DEL:
        case OP_TOKEN_DEL_USER:
            status = data_token_del(d, p);
            break;
        case OP_DEL_EQ:
            status = e != NULL && strcmp(e->val, p->val) == 0 && data_del(d, p->key);
            if (fs->del_eqs_answered < FAKE_DEL_EQ_LOG) {
                fake_del_eq *log = &fs->del_eqs[fs->del_eqs_answered++];
                snprintf(log->key, sizeof log->key, "%s", p->key);
                snprintf(log->val, sizeof log->val, "%s", p->val);
                log->deleted = status;
            }
            break;
        }
        if (p->kind == OP_GET && e != NULL) {
            pending_free(p);
            return;
        }
    }
    if (p->kind == OP_GET)
        p->get_cb(p->arg, status, NULL, 0);
    else
        p->done_cb(p->arg, status);
    pending_free(p);
}

static void fake_store_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Answer the ops queued before this pass (unless held); close once closing and drained. */
static void fake_store_run(uv_idle_t *h)
{
    fake_store *fs = h->data;
    if (fs->hold && !fs->closing) {
        uv_idle_stop(h);
        return;
    }
    pending *p = fs->head;
    fs->head = NULL;
    fs->tail = &fs->head;
    while (p != NULL) {
        pending *next = p->next;
        pending_answer(fs, p);
        p = next;
    }
    if (fs->head != NULL)
        return;
    uv_idle_stop(h);
    if (fs->closing)
        uv_close((uv_handle_t *)h, fake_store_closed);
}

/* Check and queue an op; the status to return. */
static int fake_queue(wxs__store *base, pending *p)
{
    fake_store *fs = (fake_store *)base;
    int rc = fs->closing ? WXS_ECANCELED : fs->fail_now[p->kind];
    fs->calls[p->kind]++;
    if (rc < 0) {
        pending_free(p);
        return rc;
    }
    *fs->tail = p;
    fs->tail = &p->next;
    if (!fs->hold)
        uv_idle_start(&fs->idle, fake_store_run);
    return 0;
}

static pending *pending_new(int kind, const char *key, size_t klen, const char *val, size_t vlen,
                            long long ttl_s)
{
    pending *p = calloc(1, sizeof *p);
    p->kind = kind;
    p->key = key != NULL ? strndup(key, klen) : NULL;
    p->val = val != NULL ? strndup(val, vlen) : NULL;
    p->ttl_s = ttl_s;
    return p;
}

static int fs_get(wxs__store *st, const char *key, size_t klen, wxs__store_get_cb cb, void *arg)
{
    pending *p = pending_new(OP_GET, key, klen, NULL, 0, 0);
    p->get_cb = cb;
    p->arg = arg;
    return fake_queue(st, p);
}

static int fs_set(wxs__store *st, int kind, const char *key, size_t klen, const char *val,
                  size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    pending *p = pending_new(kind, key, klen, val, vlen, ttl_s);
    p->done_cb = cb;
    p->arg = arg;
    return fake_queue(st, p);
}

static int fs_set_ex(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return fs_set(st, OP_SET, key, klen, val, vlen, ttl_s, cb, arg);
}

static int fs_set_nx_ex(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                        long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return fs_set(st, OP_SET_NX, key, klen, val, vlen, ttl_s, cb, arg);
}

static int fs_del(wxs__store *st, const char *key, size_t klen, wxs__store_done_cb cb, void *arg)
{
    return fs_set(st, OP_DEL, key, klen, NULL, 0, 0, cb, arg);
}

static int fs_del_eq(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                     wxs__store_done_cb cb, void *arg)
{
    int rc = wxs__store_check_del_eq(key, klen, val, vlen);
    return rc < 0 ? rc : fs_set(st, OP_DEL_EQ, key, klen, val, vlen, 0, cb, arg);
}

static int fs_login(wxs__store *st, const wxs__login *lw, wxs__store_done_cb cb, void *arg)
{
    pending *p = pending_new(OP_LOGIN, NULL, 0, lw->user_json, lw->user_len, lw->ttl_s);
    p->code = strndup(lw->code, lw->code_len);
    p->openid = strndup(lw->openid, lw->openid_len);
    if (lw->remember.key != NULL) {
        p->rkey = strndup(lw->remember.key, lw->remember.key_len);
        p->rval = strndup(lw->remember.value, lw->remember.value_len);
        p->rttl_s = lw->remember.ttl_s;
    }
    p->done_cb = cb;
    p->arg = arg;
    return fake_queue(st, p);
}

static int fs_token_put(wxs__store *st, const wxs__token_put *tp, wxs__store_done_cb cb, void *arg)
{
    int rc = wxs__store_check_token_put(tp);
    if (rc < 0)
        return rc;
    pending *p = pending_new(OP_TOKEN_PUT, tp->hash, 64, tp->record, tp->record_len, tp->ttl_s);
    p->openid = strndup(tp->openid, tp->openid_len);
    p->ttl2_s = tp->index_ttl_s;
    p->cap = tp->cap;
    if (tp->remember.key != NULL) {
        p->rkey = strndup(tp->remember.key, tp->remember.key_len);
        p->rval = strndup(tp->remember.value, tp->remember.value_len);
        p->rttl_s = tp->remember.ttl_s;
    }
    p->done_cb = cb;
    p->arg = arg;
    return fake_queue(st, p);
}

static int fs_token_touch(wxs__store *st, const char *hash, const char *record, size_t record_len,
                          long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return fs_set(st, OP_TOKEN_TOUCH, hash, 64, record, record_len, ttl_s, cb, arg);
}

static int fs_token_del(wxs__store *st, const char *hash, const char *openid, size_t openid_len,
                        wxs__store_done_cb cb, void *arg)
{
    pending *p = pending_new(hash != NULL ? OP_TOKEN_DEL : OP_TOKEN_DEL_USER, hash, 64, NULL, 0, 0);
    p->openid = strndup(openid, openid_len);
    p->done_cb = cb;
    p->arg = arg;
    return fake_queue(st, p);
}

static int fs_token_del_user(wxs__store *st, const char *openid, size_t openid_len,
                             wxs__store_done_cb cb, void *arg)
{
    return fs_token_del(st, NULL, openid, openid_len, cb, arg);
}

static int fs_ready(const wxs__store *st)
{
    return !((const fake_store *)st)->closing;
}

/* Pending ops end with WXS_ECANCELED on the next pass; then the fake frees itself. */
static void fs_close(wxs__store *st)
{
    fake_store *fs = (fake_store *)st;
    fs->closing = 1;
    uv_idle_start(&fs->idle, fake_store_run);
}

static const wxs__store_ops fake_store_ops = {
    .name = "fake",
    .close = fs_close,
    .ready = fs_ready,
    .get = fs_get,
    .set_ex = fs_set_ex,
    .set_nx_ex = fs_set_nx_ex,
    .del = fs_del,
    .del_eq = fs_del_eq,
    .login = fs_login,
    .token_put = fs_token_put,
    .token_touch = fs_token_touch,
    .token_del = fs_token_del,
    .token_del_user = fs_token_del_user,
};

fake_store *fake_store_new(uv_loop_t *loop, fake_data *data)
{
    fake_store *fs = calloc(1, sizeof *fs);
    fs->base.ops = &fake_store_ops;
    fs->data = data;
    fs->tail = &fs->head;
    uv_idle_init(loop, &fs->idle);
    fs->idle.data = fs;
    return fs;
}

void fake_store_release(fake_store *fs)
{
    fs->hold = 0;
    uv_idle_start(&fs->idle, fake_store_run);
}

/* ------------------------------------------------------------ the fake WeChat client */

/* An exchange (cb) or a server API call (call_cb: its reply text, or a transport status). */
typedef struct wx_pending {
    struct wx_pending *next;
    wxs__exchange_cb cb;
    wxs__call_cb call_cb;
    int status;
    char *reply;
    void *arg;
} wx_pending;

/* Answer one call: a transport failure, or its reply classified as the real client does. */
static void call_answer(wx_pending *p, int canceled)
{
    wxs__call_result res = {.status = canceled ? WXS_ECANCELED : p->status};
    wxs__wechat_reply reply = {0};
    if (res.status < 0)
        res.reason = canceled ? "canceled" : "unreachable";
    else
        wxs__wechat_parse_call(p->reply, strlen(p->reply), 200, 64, &res, &reply);
    p->call_cb(p->arg, &res);
    wxs__wechat_reply_clear(&reply);
    free(p->reply);
}

static void fake_wechat_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fake_wechat_run(uv_idle_t *h)
{
    fake_wechat *fw = h->data;
    uv_idle_stop(h);
    if (fw->hold)
        return;
    wx_pending *p = fw->head;
    fw->head = NULL;
    while (p != NULL) {
        wx_pending *next = p->next;
        if (p->call_cb != NULL)
            call_answer(p, 0);
        else
            p->cb(p->arg, &fw->reply);
        free(p);
        p = next;
    }
}

void fake_wechat_release(fake_wechat *fw)
{
    fw->hold = 0;
    uv_idle_start(&fw->idle, fake_wechat_run);
}

/* Which API path names (FAKE_API_*). */
static int api_of(const char *path)
{
    static const char *const prefixes[] = {"/cgi-bin/stable_token", "/wxa/checksession",
                                           "/wxa/resetusersessionkey",
                                           "/wxa/business/getuserphonenumber"};
    for (int i = 0; i < FAKE_API_OTHER; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], n) == 0 && (path[n] == '\0' || path[n] == '?'))
            return i;
    }
    return FAKE_API_OTHER;
}

/* The reply text of a call to api (its fw->api_calls already counted). */
static char *call_reply(fake_wechat *fw, int api)
{
    char out[4096];
    long refuse = 0;
    switch (api) {
    case FAKE_API_STABLE_TOKEN:
        refuse = fw->token_errcode;
        if (fw->token[0] != '\0')
            snprintf(out, sizeof out, "{\"access_token\":\"%s\",\"expires_in\":%ld}", fw->token,
                     fw->expires_in);
        else
            snprintf(out, sizeof out, "{\"access_token\":\"AT-%d\",\"expires_in\":%ld}",
                     fw->api_calls[api], fw->expires_in);
        break;
    case FAKE_API_CHECK:
        refuse = fw->check_errcode;
        snprintf(out, sizeof out, "{\"errcode\":0,\"errmsg\":\"ok\"}");
        break;
    case FAKE_API_RESET:
        snprintf(out, sizeof out,
                 "{\"errcode\":0,\"errmsg\":\"ok\",\"openid\":\"%s\",\"session_key\":\"%s\"}",
                 FAKE_OPENID, fw->new_session_key);
        break;
    case FAKE_API_PHONE:
        refuse = fw->api_calls[api] <= fw->phone_invalid_first ? 40001 : fw->phone_errcode;
        snprintf(out, sizeof out, "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":%s}",
                 fw->phone_info);
        break;
    default:
        refuse = 40066;
    }
    if (refuse != 0)
        snprintf(out, sizeof out, "{\"errcode\":%ld,\"errmsg\":\"refused\"}", refuse);
    return strdup(out);
}

/* The fake's ops->call: count it, keep its path and body, decide its answer. */
static int fw_call(wxs__wechat *w, const char *name, const char *path, const char *body,
                   size_t body_len, wxs__call_cb cb, void *arg)
{
    fake_wechat *fw = (fake_wechat *)w;
    if (name == NULL || path == NULL || path[0] != '/' || cb == NULL)
        return WXS_EINVAL;
    if (fw->closing)
        return WXS_ECANCELED;
    int api = api_of(path);
    fw->api_calls[api]++;
    snprintf(fw->last_name, sizeof fw->last_name, "%s", name);
    snprintf(fw->last_path, sizeof fw->last_path, "%s", path);
    snprintf(fw->last_body, sizeof fw->last_body, "%.*s", body != NULL ? (int)body_len : 0,
             body != NULL ? body : "");
    fw->last_post = body != NULL;
    wx_pending *p = calloc(1, sizeof *p);
    p->call_cb = cb;
    p->arg = arg;
    p->status = fw->unreachable[api];
    p->reply = call_reply(fw, api);
    p->next = fw->head;
    fw->head = p;
    uv_idle_start(&fw->idle, fake_wechat_run);
    return 0;
}

static int fw_exchange(wxs__wechat *w, const char *code, size_t code_len, wxs__exchange_cb cb,
                       void *arg)
{
    fake_wechat *fw = (fake_wechat *)w;
    if (fw->closing)
        return WXS_ECANCELED;
    fw->calls++;
    wx_pending *p = calloc(1, sizeof *p);
    p->cb = cb;
    p->arg = arg;
    p->next = fw->head;
    fw->head = p;
    uv_idle_start(&fw->idle, fake_wechat_run);
    return 0;
}

/* As the real client: exchanges in flight end with WXS_ECANCELED inside free(). */
static void fw_free(wxs__wechat *w)
{
    fake_wechat *fw = (fake_wechat *)w;
    wxs__exchange_result canceled = {.status = WXS_ECANCELED, .reason = "canceled"};
    fw->closing = 1;
    while (fw->head != NULL) {
        wx_pending *p = fw->head;
        fw->head = p->next;
        if (p->call_cb != NULL)
            call_answer(p, 1);
        else
            p->cb(p->arg, &canceled);
        free(p);
    }
    uv_close((uv_handle_t *)&fw->idle, fake_wechat_closed);
}

static const wxs__wechat_ops fake_wechat_ops = {
    .name = "fake",
    .exchange = fw_exchange,
    .call = fw_call,
    .free = fw_free,
};

fake_wechat *fake_wechat_new(uv_loop_t *loop)
{
    fake_wechat *fw = calloc(1, sizeof *fw);
    fw->base.ops = &fake_wechat_ops;
    uv_idle_init(loop, &fw->idle);
    fw->idle.data = fw;
    fw->reply = (wxs__exchange_result){.openid = FAKE_OPENID, .session_key = FAKE_SESSION_KEY};
    fw->expires_in = 7200;
    snprintf(fw->new_session_key, sizeof fw->new_session_key, "%s", FAKE_NEW_SESSION_KEY);
    fw->phone_info = FAKE_PHONE_INFO;
    return fw;
}

/* WeChat answers with errcode from now on (0: success). */
void fake_wechat_says(fake_wechat *fw, long errcode)
{
    if (errcode == 0)
        fw->reply = (wxs__exchange_result){.openid = FAKE_OPENID, .session_key = FAKE_SESSION_KEY};
    else
        fw->reply = (wxs__exchange_result){
            .status = WXS_EEXCHANGE, .errcode = errcode, .errmsg = "refused", .reason = "refused"};
}

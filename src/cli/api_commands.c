/* api_commands.c: `wxsession access-token` and `wxsession check-session-key`: one library
 * context on a loop of their own, with wxsessiond's configuration (settings.c), one call, the
 * answer printed. */
#include "api_commands.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 256
#define KEY_FILE_MAX 4096
#define EXIT_REFUSED 1
#define EXIT_USAGE 2

typedef struct outcome {
    int done;
    int status;
    long errcode;
    char text[1024];
} outcome;

/* The configuration from the arguments left (wxsessiond's), into s. 0 or EXIT_USAGE. */
static int load(settings *s, int argc, char **argv)
{
    char *args[ARGS_MAX + 1];
    char prog[] = "wxsession";
    char err[512];
    if (argc > ARGS_MAX) {
        fprintf(stderr, "wxsession: more than %d arguments\n", ARGS_MAX);
        return EXIT_USAGE;
    }
    args[0] = prog;
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    int rc = settings_read(s, argc + 1, args, err, sizeof err);
    if (rc == SETTINGS_RUN)
        return 0;
    if (rc < 0)
        fprintf(stderr, "wxsession: %s\n", err);
    return EXIT_USAGE;
}

static void closed_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void ready_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Run the loop until the store is ready (a Redis connection is made after the context) or
 * redis.timeoutMs has passed; a call then finds the store as a running server would. */
static void wait_ready(uv_loop_t *loop, wxs_ctx *ctx, const wxs_config *cfg)
{
    uv_timer_t t;
    int expired = 0;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, ready_timeout, (uint64_t)wxs_config_get_int(cfg, "redis.timeoutMs"), 0);
    while (!wxs_ctx_store_ready(ctx) && !expired && uv_run(loop, UV_RUN_ONCE) != 0)
        ;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* its close callback: t lives on this stack */
}

/* Run the loop until the call answered, then free the context and drain the loop. */
static void run(uv_loop_t *loop, wxs_ctx *ctx, outcome *o)
{
    while (!o->done && uv_run(loop, UV_RUN_ONCE) != 0)
        ;
    wxs_ctx_free(ctx);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, closed_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static int report(const outcome *o)
{
    if (o->status == 0 || o->status == WXS_ESTALE) {
        puts(o->text);
        return o->status == 0 ? 0 : EXIT_REFUSED;
    }
    if (o->errcode != 0)
        fprintf(stderr, "wxsession: WeChat refused: errcode %ld\n", o->errcode);
    else if (o->status == WXS_EEXCHANGE) /* the access_token's fetch: its errcode is logged */
        fprintf(stderr, "wxsession: WeChat refused the access_token (see its errcode above)\n");
    else
        fprintf(stderr, "wxsession: %s\n", wxs_strerror(o->status));
    return EXIT_REFUSED;
}

/* Starts the command's one call on ctx, to answer into o: 0 or a negative WXS_E* code. */
typedef int (*start_fn)(wxs_ctx *ctx, void *arg, outcome *o);

/* Load the configuration from args, open a context, start the call, run until it answered:
 * the exit status. */
static int call(int argc, char **argv, start_fn start, void *arg)
{
    settings s = {0};
    int rc = load(&s, argc, argv);
    if (rc != 0)
        return rc;
    uv_loop_t loop;
    wxs_ctx *ctx = NULL;
    outcome o = {0};
    char err[256] = "";
    uv_loop_init(&loop);
    rc = wxs_ctx_new(&ctx, &loop, s.cfg, err, sizeof err);
    if (rc == 0) {
        wait_ready(&loop, ctx, s.cfg);
        rc = start(ctx, arg, &o);
    }
    if (rc < 0) {
        o.done = 1;
        o.status = rc;
    }
    if (ctx != NULL)
        run(&loop, ctx, &o);
    else
        uv_loop_close(&loop);
    settings_free(&s);
    if (err[0] != '\0' || o.status == WXS_EINVAL || o.status == WXS_ETOOBIG) {
        fprintf(stderr, "wxsession: %s\n", err[0] != '\0' ? err : wxs_strerror(o.status));
        return EXIT_USAGE;
    }
    rc = report(&o);
    explicit_bzero(o.text, sizeof o.text);
    return rc;
}

static void got_token(void *arg, int status, const char *token, long long expires_at)
{
    outcome *o = arg;
    o->done = 1;
    o->status = status;
    if (status == 0)
        snprintf(o->text, sizeof o->text, "{\"accessToken\":\"%s\",\"expiresAt\":%lld}", token,
                 expires_at);
}

static int start_token(wxs_ctx *ctx, void *arg, outcome *o)
{
    const char *invalid = arg;
    return invalid != NULL
               ? wxs_ctx_access_token_invalid(ctx, invalid, strlen(invalid), got_token, o)
               : wxs_ctx_access_token(ctx, got_token, o);
}

int cmd_access_token(int argc, char **argv)
{
    const char *invalid = NULL;
    char *rest[ARGS_MAX];
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--invalid") == 0 && i + 1 < argc)
            invalid = argv[++i];
        else if (nrest < ARGS_MAX)
            rest[nrest++] = argv[i];
    }
    return call(nrest, rest, start_token, (void *)invalid);
}

static void key_answered(void *arg, const wxs_api_result *res)
{
    outcome *o = arg;
    o->done = 1;
    o->status = res->status;
    o->errcode = res->status == WXS_EEXCHANGE ? res->errcode : 0;
    if (res->status == 0)
        snprintf(o->text, sizeof o->text, "%s", res->session_key != NULL ? res->session_key : "ok");
    else if (res->status == WXS_ESTALE)
        snprintf(o->text, sizeof o->text, "stale");
}

/* The key from --session-key or the first line of --session-key-file. 0 or EXIT_USAGE. */
static int read_key(const char *key, const char *file, char out[KEY_FILE_MAX])
{
    if ((key == NULL) == (file == NULL)) {
        fprintf(stderr, "wxsession: give one of --session-key and --session-key-file\n");
        return EXIT_USAGE;
    }
    if (key != NULL) {
        snprintf(out, KEY_FILE_MAX, "%s", key);
        return 0;
    }
    FILE *f = fopen(file, "r");
    if (f == NULL || fgets(out, KEY_FILE_MAX, f) == NULL) {
        fprintf(stderr, "wxsession: cannot read %s\n", file);
        if (f != NULL)
            fclose(f);
        return EXIT_USAGE;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

typedef struct key_args {
    const char *openid;
    char key[KEY_FILE_MAX];
    int reset;
} key_args;

static int start_key(wxs_ctx *ctx, void *arg, outcome *o)
{
    key_args *k = arg;
    return k->reset ? wxs_ctx_reset_session_key(ctx, k->openid, k->key, key_answered, o)
                    : wxs_ctx_check_session_key(ctx, k->openid, k->key, key_answered, o);
}

int cmd_check_session_key(int argc, char **argv)
{
    const char *key = NULL, *key_file = NULL;
    key_args k = {0};
    char *rest[ARGS_MAX];
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--openid") == 0 && i + 1 < argc)
            k.openid = argv[++i];
        else if (strcmp(argv[i], "--session-key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "--session-key-file") == 0 && i + 1 < argc)
            key_file = argv[++i];
        else if (strcmp(argv[i], "--reset") == 0)
            k.reset = 1;
        else if (nrest < ARGS_MAX)
            rest[nrest++] = argv[i];
    }
    if (k.openid == NULL || k.openid[0] == '\0') {
        fprintf(stderr, "wxsession: --openid is required\n");
        return EXIT_USAGE;
    }
    int rc = read_key(key, key_file, k.key);
    if (rc == 0)
        rc = call(nrest, rest, start_key, &k);
    explicit_bzero(k.key, sizeof k.key);
    return rc;
}

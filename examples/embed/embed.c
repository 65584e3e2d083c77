/* embed.c: libwxsession in a program's own libuv loop, deciding one weapp-session request. */
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <wxsession.h>

/* What the session layer decided, filled in by decided(). */
typedef struct outcome {
    int done;
    int exit_code; /* 0 anonymous or a user, 2 rejected */
} outcome;

/* The callback of wxs_ctx_authenticate(): res and its strings live only during this call. */
static void decided(void *arg, const wxs_auth_result *res)
{
    outcome *o = arg;
    if (res->kind == WXS_AUTH_ANONYMOUS) {
        printf("anonymous\n");
    } else if (res->kind == WXS_AUTH_USER) {
        printf("user %s\n", res->user_json);
    } else {
        printf("rejected %d %s\n", res->http_status, res->body);
        o->exit_code = 2;
    }
    o->done = 1;
}

/* Answer one request whose headers are the arguments: none (anonymous), X-WX-Code alone
 * (code-only), or X-WX-Code, X-WX-RawData (percent-encoded, as sent) and X-WX-Signature
 * (login). The configuration comes from the library's environment overrides (WXS_APP_ID,
 * WXS_APP_SECRET, WXS_WECHAT_API_BASE, WXS_SQLITE_PATH...). */
int main(int argc, char **argv)
{
    char err[256] = "";
    int rc = 0;
    outcome o = {0, 0};
    wxs_ctx *ctx = NULL;
    wxs_auth_request req = {0};
    uv_loop_t *loop = uv_default_loop();
    wxs_config *cfg = wxs_config_new();

    if (argc != 1 && argc != 2 && argc != 4) {
        fprintf(stderr, "usage: %s [CODE [RAWDATA SIGNATURE]]\n", argv[0]);
        rc = WXS_EINVAL;
        goto out;
    }
    if (cfg == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    rc = wxs_config_set(cfg, "sqlite.path", "embed.db", err, sizeof err);
    if (rc == 0)
        rc = wxs_config_load_env(cfg, err, sizeof err);
    if (rc == 0)
        rc = wxs_config_validate(cfg, err, sizeof err);
    if (rc == 0)
        rc = wxs_ctx_new(&ctx, loop, cfg, err, sizeof err);
    if (rc < 0)
        goto out;

    if (argc >= 2) {
        req.code = argv[1];
        req.code_len = strlen(argv[1]);
    }
    if (argc == 4) {
        req.raw_data = argv[2];
        req.raw_data_len = strlen(argv[2]);
        req.signature = argv[3];
        req.signature_len = strlen(argv[3]);
    }
    rc = wxs_ctx_authenticate(ctx, &req, decided, &o);
    while (rc == 0 && !o.done && uv_run(loop, UV_RUN_ONCE) != 0)
        ;
    if (rc == 0 && !o.done)
        rc = WXS_ECANCELED; /* the loop ran dry without an answer: a library bug */

out:
    if (rc < 0)
        fprintf(stderr, "embed: %s%s%s\n", wxs_strerror(rc), err[0] ? ": " : "", err);
    wxs_ctx_free(ctx);            /* closes its handles on the loop... */
    uv_run(loop, UV_RUN_DEFAULT); /* ...which this lets finish */
    uv_loop_close(loop);
    wxs_config_free(cfg);
    return rc < 0 ? 1 : o.exit_code;
}

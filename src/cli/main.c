/* main.c: the `wxsession` command: sign and verify rawData, percent-decode X-WX-RawData, decrypt
 * encryptedData, show a token's store key and check a configuration. Uses the public header
 * include/wxsession.h, and the option tables of the server and the One Stroke app, to check a
 * whole config. */
#include <wxsession.h>

#include "api_commands.h"
#include "man_pages.h"
#include "options.h"
#include "server_options.h"
#include "settings.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_MISMATCH 1     /* verify: the signature does not match; decrypt: not decrypted */
#define EXIT_USAGE 2        /* bad arguments, unreadable input, invalid config */
#define INPUT_MAX (1 << 20) /* largest rawData or decode input */
#define KEY_FILE_MAX 4096   /* largest --session-key-file */
#define TOKEN_MAX 1024      /* largest token-info TOKEN */
#define PREFIX_MAX 64       /* largest session prefix (as session.prefix) */
#define DEFAULT_PREFIX "weapp-session:"

static const command_help commands[] = {
    {"sign",
     "sign (--raw-data TEXT | --raw-data-file FILE) (--session-key KEY | --session-key-file FILE)",
     "print the weapp-session signature: lowercase hex sha1(rawData + session_key).\n"
     "rawData is the decoded X-WX-RawData value; a file is hashed byte for byte. A session key\n"
     "file has its trailing newline removed. Keys given with --session-key are visible to\n"
     "other local users in the process list; prefer --session-key-file.\n"},
    {"verify", "verify (the arguments of sign) --signature SIG",
     "print \"ok\" and exit 0 when SIG (40 lowercase hex digits) is the signature, else print\n"
     "\"mismatch\" and exit 1. A SIG that is not 40 lowercase hex digits is a usage error.\n"},
    {"decode", "decode [-n] TEXT",
     "strictly percent-decode TEXT (an X-WX-RawData header value) as decodeURIComponent does\n"
     "and print the bytes (-n: without a trailing newline)\n"},
    {"decrypt",
     "decrypt (--session-key KEY | --session-key-file FILE) --iv IV (--data DATA | --data-file "
     "FILE) [--app-id APPID]",
     "decrypt WeChat's encryptedData (base64; AES-128-CBC, PKCS#7) with the user's session_key\n"
     "and iv (base64, 16 bytes each) and print the plaintext, a JSON object. With --app-id its\n"
     "watermark.appid must be APPID. Exits 1 when the data does not decrypt with the key or is\n"
     "for another app, 2 on bad base64, wrong lengths or data over 64 KiB. A file has its\n"
     "trailing newline removed; prefer --session-key-file (the process list shows arguments).\n"},
    {"token-info", "token-info (TOKEN | -) [--prefix PREFIX]",
     "print the SHA-256 of a token (from POST /login; - reads it from standard input) and the\n"
     "store key of its session, PREFIX + \"token:\" + that hash (PREFIX: session.prefix,\n"
     "default \"" DEFAULT_PREFIX "\"). The user's index of sessions is PREFIX + \"tokens:\" + the\n"
     "openId in that record. The token itself is never printed.\n"},
    {"access-token", API_ACCESS_TOKEN_SYNOPSIS, API_ACCESS_TOKEN_TEXT},
    {"check-session-key", API_CHECK_KEY_SYNOPSIS, API_CHECK_KEY_TEXT},
    {"check-config", "check-config [--config FILE] [--dev] [--OPTION=VALUE | --OPTION VALUE ...]",
     "apply defaults < config file < environment < flags, validate, print the effective\n"
     "configuration (secrets shown as \"***\") and \"config ok\". The options are\n"
     "wxsessiond's (--dev turns the simulator on):\n"},
    {"config-docs", "config-docs [--format markdown|sample|wxsessiond.8|wxsession.1]",
     "print every option as the Markdown reference (docs/config.md, the default), as the\n"
     "commented sample config file (/etc/wxsession/wxsession.json) or as the man page\n"
     "wxsessiond(8) or wxsession(1) (roff). The build writes the last three from this.\n"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Every option wxsessiond reads, and where their values go. */
typedef struct all_options {
    server_options server;
    struct onestroke_options onestroke;
} all_options;

/* A config with the library's, the server's and the app's tables registered; NULL when out of
 * memory. */
static wxs_config *config_new(all_options *all)
{
    wxs_config *cfg = wxs_config_new();
    if (cfg != NULL && (wxs_config_register(cfg, &server_option_table, &all->server) < 0 ||
                        wxs_config_register(cfg, &onestroke_option_table, &all->onestroke) < 0)) {
        wxs_config_free(cfg);
        cfg = NULL;
    }
    return cfg;
}

/* `wxsession --help`: the commands, one line each. */
static void usage(FILE *out)
{
    fputs("usage: wxsession COMMAND [ARGS]   (wxsession COMMAND --help: more on one)\n\n", out);
    fputs("commands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fputs("  --help, --version\n\n"
          "Exit status: 0 success, 1 signature mismatch or data not decrypted, 2 usage, input or\n"
          "configuration error.\n",
          out);
}

/* `wxsession CMD --help`: the command's synopsis and text; check-config adds the options. */
static void command_usage(const command_help *c, FILE *out)
{
    fprintf(out, "usage: wxsession %s\n\n%s", c->synopsis, c->text);
    if (strcmp(c->name, "check-config") == 0) {
        all_options all;
        wxs_config *cfg = config_new(&all);
        fputc('\n', out);
        wxs_config_print_help(cfg, out);
        wxs_config_free(cfg);
    }
}

/* Print "wxsession: <message>" to stderr and return EXIT_USAGE. */
static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wxsession: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* Read all of path (at most max bytes) into a malloc'ed, NUL-terminated buffer. Returns 0, or
 * -1 after printing the reason. */
static int read_all(const char *path, size_t max, char **out, size_t *outlen)
{
    int rc = -1;
    char *buf = malloc(max + 2);
    FILE *f = fopen(path, "rb");
    if (buf == NULL || f == NULL) {
        die("%s: %s", path, buf == NULL ? "out of memory" : strerror(errno));
        goto out;
    }
    size_t n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        die("%s: read error", path);
        goto out;
    }
    if (n > max) {
        die("%s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    buf = NULL;
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ sign, verify */

struct sign_args {
    const char *raw_data, *raw_data_file;
    const char *key, *key_file;
    const char *signature;
};

/* 1 when s is a signature as WeChat writes it: 40 lowercase hex digits. */
static int is_sha1_hex(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    }
    return n == 40;
}

/* Parse the arguments of sign (want_sig 0) or verify (want_sig 1). 0 or EXIT_USAGE. */
static int parse_sign_args(int argc, char **argv, int want_sig, struct sign_args *a)
{
    static const char *const names[] = {"--raw-data", "--raw-data-file", "--session-key",
                                        "--session-key-file", "--signature"};
    const char **slots[] = {&a->raw_data, &a->raw_data_file, &a->key, &a->key_file, &a->signature};
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        size_t k = 0;
        while (k < 5 && strcmp(argv[i], names[k]) != 0)
            k++;
        if (k == 5 || (k == 4 && !want_sig))
            return die("unexpected argument '%s' (see --help)", argv[i]);
        if (i + 1 >= argc)
            return die("%s needs a value", argv[i]);
        *slots[k] = argv[++i];
    }
    if ((a->raw_data == NULL) == (a->raw_data_file == NULL))
        return die("give one of --raw-data and --raw-data-file");
    if ((a->key == NULL) == (a->key_file == NULL))
        return die("give one of --session-key and --session-key-file");
    if (want_sig && a->signature == NULL)
        return die("verify needs --signature");
    if (want_sig && !is_sha1_hex(a->signature))
        return die("--signature must be 40 lowercase hex digits (a sha1 in hex)");
    return 0;
}

/* The bytes of an input given as text or as a file (read into *buf, which the caller frees).
 * 0, or -1 after printing the reason. */
static int load_input(const char *text, const char *path, size_t max, char **buf, const char **out,
                      size_t *len)
{
    if (text != NULL) {
        *out = text;
        *len = strlen(text);
        return 0;
    }
    if (read_all(path, max, buf, len) < 0)
        return -1;
    *out = *buf;
    return 0;
}

/* sign and verify: compute or check sha1(rawData + session_key). */
static int cmd_sign(int argc, char **argv, int verify)
{
    struct sign_args a;
    char *raw_buf = NULL, *key_buf = NULL;
    const char *raw = NULL, *key = NULL;
    size_t raw_len = 0, key_len = 0, key_read = 0;
    int rc = parse_sign_args(argc, argv, verify, &a);
    if (rc != 0)
        return rc;
    rc = EXIT_USAGE;
    if (load_input(a.raw_data, a.raw_data_file, INPUT_MAX, &raw_buf, &raw, &raw_len) < 0 ||
        load_input(a.key, a.key_file, KEY_FILE_MAX, &key_buf, &key, &key_len) < 0)
        goto out;
    key_read = key_len;
    while (key_buf != NULL && key_len > 0 &&
           (key_buf[key_len - 1] == '\n' || key_buf[key_len - 1] == '\r'))
        key_len--;
    if (!verify) {
        char hex[41];
        wxs_signature(raw, raw_len, key, key_len, hex);
        printf("%s\n", hex);
        rc = 0;
    } else if (wxs_signature_verify(raw, raw_len, key, key_len, a.signature, strlen(a.signature))) {
        printf("ok\n");
        rc = 0;
    } else {
        printf("mismatch\n");
        rc = EXIT_MISMATCH;
    }
out:
    free(raw_buf);
    if (key_buf != NULL)
        memset(key_buf, 0, key_read);
    free(key_buf);
    return rc;
}

/* ------------------------------------------------------------------ decode */

static int cmd_decode(int argc, char **argv)
{
    int newline = 1;
    const char *text = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0)
            newline = 0;
        else if (text == NULL)
            text = argv[i];
        else
            return die("decode takes one TEXT (see --help)");
    }
    if (text == NULL)
        return die("decode needs TEXT (see --help)");
    size_t len = strlen(text);
    if (len > INPUT_MAX)
        return die("input longer than %d bytes", INPUT_MAX);
    char *out = malloc(len + 1);
    if (out == NULL)
        return die("out of memory");
    size_t outlen = 0;
    int rc = wxs_percent_decode(text, len, out, len + 1, &outlen);
    if (rc < 0) {
        free(out);
        return die("cannot decode: %s",
                   rc == WXS_EPARSE ? "bad %-escape or invalid UTF-8" : wxs_strerror(rc));
    }
    fwrite(out, 1, outlen, stdout);
    if (newline)
        fputc('\n', stdout);
    free(out);
    return 0;
}

/* ------------------------------------------------------------------ decrypt */

struct decrypt_args {
    const char *key, *key_file;
    const char *iv;
    const char *data, *data_file;
    const char *app_id;
};

/* Parse the arguments of decrypt. 0 or EXIT_USAGE. */
static int parse_decrypt_args(int argc, char **argv, struct decrypt_args *a)
{
    static const char *const names[] = {"--session-key", "--session-key-file", "--iv",
                                        "--data",        "--data-file",        "--app-id"};
    const size_t n = sizeof names / sizeof names[0];
    const char **slots[] = {&a->key, &a->key_file, &a->iv, &a->data, &a->data_file, &a->app_id};
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        size_t k = 0;
        while (k < n && strcmp(argv[i], names[k]) != 0)
            k++;
        if (k == n)
            return die("unexpected argument '%s' (see --help)", argv[i]);
        if (i + 1 >= argc)
            return die("%s needs a value", argv[i]);
        *slots[k] = argv[++i];
    }
    if ((a->key == NULL) == (a->key_file == NULL))
        return die("give one of --session-key and --session-key-file");
    if (a->iv == NULL)
        return die("decrypt needs --iv");
    if ((a->data == NULL) == (a->data_file == NULL))
        return die("give one of --data and --data-file");
    return 0;
}

/* len without the trailing newlines (CR or LF) of a file's text. */
static size_t without_newlines(const char *buf, size_t len)
{
    while (buf != NULL && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    return len;
}

/* Print what wxs_decrypt_data's failure rc means; EXIT_MISMATCH when the data did not decrypt
 * (or is for another app), EXIT_USAGE for bad input. */
static int decrypt_failed(int rc, const char *app_id)
{
    switch (rc) {
    case WXS_EDECRYPT:
        fputs("wxsession: decryption failed: not encrypted with this session key and iv, or "
              "corrupt\n",
              stderr);
        return EXIT_MISMATCH;
    case WXS_EWATERMARK:
        fprintf(stderr, "wxsession: watermark.appid is not '%s': the data is for another app\n",
                app_id);
        return EXIT_MISMATCH;
    case WXS_EPARSE:
        return die("bad input: strict base64 with padding, and a 16-byte key and iv, are needed");
    case WXS_ETOOBIG:
        return die("data larger than 64 KiB decoded");
    default:
        return die("cannot decrypt: %s", wxs_strerror(rc));
    }
}

/* decrypt: WeChat's encryptedData to its plaintext. */
static int cmd_decrypt(int argc, char **argv)
{
    struct decrypt_args a;
    char *key_buf = NULL, *data_buf = NULL, *plain = NULL;
    const char *key = NULL, *data = NULL;
    size_t key_len = 0, key_read = 0, data_len = 0, plain_len = 0;
    int rc = parse_decrypt_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    rc = EXIT_USAGE;
    if (load_input(a.key, a.key_file, KEY_FILE_MAX, &key_buf, &key, &key_len) < 0 ||
        load_input(a.data, a.data_file, INPUT_MAX, &data_buf, &data, &data_len) < 0)
        goto out;
    key_read = key_len;
    key_len = without_newlines(key_buf, key_len);
    data_len = without_newlines(data_buf, data_len);
    rc = wxs_decrypt_data(key, key_len, a.iv, strlen(a.iv), data, data_len, a.app_id, &plain,
                          &plain_len);
    if (rc < 0) {
        rc = decrypt_failed(rc, a.app_id);
        goto out;
    }
    fwrite(plain, 1, plain_len, stdout);
    fputc('\n', stdout);
    rc = 0;
out:
    wxs_free(plain);
    free(data_buf);
    if (key_buf != NULL)
        memset(key_buf, 0, key_read);
    free(key_buf);
    return rc;
}

/* ------------------------------------------------------------------ token-info */

/* 1 when s is what POST /login hands out: 43 characters of base64url (32 bytes, no padding). */
static int looks_like_token(const char *s, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (len != 43)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
            return 0;
    return 1;
}

/* 1 when prefix may be a session.prefix: at most 64 bytes, no spaces or control characters. */
static int valid_prefix(const char *p)
{
    size_t len = strlen(p);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
            return 0;
    return len <= PREFIX_MAX;
}

/* Read one line (the token) from standard input into buf, without its newline. 0, or
 * EXIT_USAGE after printing the reason. */
static int read_token_line(char buf[TOKEN_MAX + 2], size_t *len)
{
    if (fgets(buf, TOKEN_MAX + 2, stdin) == NULL)
        return die("no token on standard input");
    *len = strlen(buf);
    if (*len > TOKEN_MAX && buf[*len - 1] != '\n')
        return die("token longer than %d bytes", TOKEN_MAX);
    *len = without_newlines(buf, *len);
    return 0;
}

/* token-info: a token's SHA-256 and its session's store key; never the token. */
static int cmd_token_info(int argc, char **argv)
{
    const char *token = NULL, *prefix = DEFAULT_PREFIX;
    char line[TOKEN_MAX + 2];
    char hex[65];
    size_t len = 0;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--prefix") == 0)
            rc = die("--prefix needs a value");
        else if (token == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0 ||
                                   looks_like_token(argv[i], strlen(argv[i]))))
            token = argv[i]; /* a token may start with '-' */
        else
            rc = die("unexpected argument '%s' (see --help)", argv[i]);
    }
    if (rc == 0 && token == NULL)
        rc = die("token-info needs TOKEN, or - to read it from standard input (see --help)");
    if (rc == 0 && !valid_prefix(prefix))
        rc = die("--prefix: at most %d bytes, no spaces or control characters", PREFIX_MAX);
    if (rc != 0)
        goto out;
    len = strlen(token);
    if (strcmp(token, "-") == 0) {
        rc = read_token_line(line, &len);
        token = line;
    }
    if (rc != 0)
        goto out;
    if (!looks_like_token(token, len))
        fputs("wxsession: warning: not a token as POST /login issues them (43 base64url "
              "characters); hashed as given\n",
              stderr);
    wxs_token_hash(token, len, hex);
    printf("sha256: %s\nkey: %stoken:%s\n", hex, prefix, hex);
out:
    memset(line, 0, sizeof line);
    return rc;
}

/* ------------------------------------------------------------------ config-docs */

/* The keys the sample config file sets: the seed's (config.js), under their current names. */
static const char *const sample_active[] = {
    "port",           "routeBasePath",  "appId",
    "appSecret",      "store",          "session.ttl",
    "session.prefix", "redis.host",     "redis.port",
    "redis.password", "redis.db",       "mongo.username",
    "mongo.password", "mongo.host",     "mongo.port",
    "mongo.query",    "mongo.database", NULL,
};

static const char sample_intro[] =
    "// wxsession.json: the configuration of wxsessiond (wxsessiond --config FILE), fully "
    "commented.\n"
    "// Generated by `wxsession config-docs --format sample` from the option tables; see\n"
    "// wxsessiond(8) and docs/config.md.\n"
    "//\n"
    "// JSON, with one extension: a line whose first characters other than spaces are // or # is "
    "a\n"
    "// comment (whole lines only). Each option below is its help, its default, its environment\n"
    "// variable and flag, then its key: remove the // in front of a key to set it. Every "
    "commented\n"
    "// key has its comma and every object ends with an active key, so uncommenting lines keeps "
    "the\n"
    "// file valid JSON. Dotted names are nested objects: redis.port is \"redis\": {\"port\": "
    "...}.\n"
    "// Precedence: defaults < this file < WXS_* environment < command-line flags.\n"
    "//\n"
    "// Before the service starts, set appId below and write the AppSecret, alone, into\n"
    "// /etc/wxsession/app_secret (root-only: chmod 600); the systemd unit hands it to wxsessiond\n"
    "// (WXS_APP_SECRET_FILE) and does not start until that file exists. Keep secrets out of this\n"
    "// file. Check with: wxsession check-config --config /etc/wxsession/wxsession.json\n"
    "// (with WXS_APP_SECRET_FILE=/etc/wxsession/app_secret). SQLite, the default store, keeps "
    "its\n"
    "// file (sqlite.path, relative to the service's directory) in /var/lib/wxsession.\n";

/* config-docs [--format F]: the option tables as docs/config.md, the sample config or a man
 * page. 0, or EXIT_USAGE on bad arguments or when out of memory. */
static int config_docs(int argc, char **argv, FILE *out)
{
    const char *format = "markdown";
    int rc = 0;
    if (argc == 2 && strcmp(argv[0], "--format") == 0)
        format = argv[1];
    else if (argc == 1 && strncmp(argv[0], "--format=", 9) == 0)
        format = argv[0] + 9;
    else if (argc != 0)
        return die("config-docs takes [--format FORMAT] (see --help)");
    all_options all;
    wxs_config *cfg = config_new(&all);
    if (cfg == NULL)
        return die("out of memory");
    if (strcmp(format, "markdown") == 0) {
        wxs_config_print_markdown(cfg, out);
    } else if (strcmp(format, "sample") == 0) {
        fputs(sample_intro, out);
        rc = wxs_config_print_sample(cfg, sample_active, out) < 0 ? die("out of memory") : 0;
    } else if (strcmp(format, "wxsessiond.8") == 0) {
        man_page_wxsessiond(cfg, out);
    } else if (strcmp(format, "wxsession.1") == 0) {
        man_page_wxsession(cfg, commands, N_COMMANDS, out);
    } else {
        rc = die("unknown format '%s' (markdown, sample, wxsessiond.8, wxsession.1)", format);
    }
    wxs_config_free(cfg);
    return rc;
}

/* ------------------------------------------------------------------ check-config */

#define CHECK_ARGS_MAX 256

/* wxsessiond --check-config with the same arguments: the server's own reader (settings.c), so
 * that both programs accept and refuse exactly the same configurations. */
static int cmd_check_config(int argc, char **argv)
{
    char *args[CHECK_ARGS_MAX + 2];
    char err[512];
    char mode[] = "--check-config";
    char prog[] = "wxsession check-config";
    settings s;
    if (argc > CHECK_ARGS_MAX)
        return die("more than %d arguments", CHECK_ARGS_MAX);
    args[0] = prog;
    memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
    args[argc + 1] = mode;
    int rc = settings_read(&s, argc + 2, args, err, sizeof err);
    if (rc < 0)
        return die("%s", err);
    return 0; /* SETTINGS_EXIT: the configuration and "config ok" are printed */
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    int rc;
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(cmd, commands[i].name) == 0) {
                command_usage(&commands[i], stdout);
                return 0;
            }
        }
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        rc = 0;
    } else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("wxsession %s (commit %s)\n", WXS_VERSION, wxs_build_commit);
        rc = 0;
    } else if (strcmp(cmd, "sign") == 0 || strcmp(cmd, "verify") == 0) {
        rc = cmd_sign(argc - 2, argv + 2, strcmp(cmd, "verify") == 0);
    } else if (strcmp(cmd, "decode") == 0) {
        rc = cmd_decode(argc - 2, argv + 2);
    } else if (strcmp(cmd, "decrypt") == 0) {
        rc = cmd_decrypt(argc - 2, argv + 2);
    } else if (strcmp(cmd, "token-info") == 0) {
        rc = cmd_token_info(argc - 2, argv + 2);
    } else if (strcmp(cmd, "access-token") == 0) {
        rc = cmd_access_token(argc - 2, argv + 2);
    } else if (strcmp(cmd, "check-session-key") == 0) {
        rc = cmd_check_session_key(argc - 2, argv + 2);
    } else if (strcmp(cmd, "check-config") == 0) {
        rc = cmd_check_config(argc - 2, argv + 2);
    } else if (strcmp(cmd, "config-docs") == 0) {
        rc = config_docs(argc - 2, argv + 2, stdout);
    } else {
        rc = die("unknown command '%s' (see --help)", cmd);
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = die("cannot write to standard output");
    return rc;
}

/* main.c: the `wxsession` command: sign and verify rawData, percent-decode X-WX-RawData and check
 * a configuration. Uses the public header include/wxsession.h, and the option tables of the server
 * and the One Stroke app, to check a whole config. */
#include <wxsession.h>

#include "options.h"
#include "server_options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_MISMATCH 1     /* verify: the signature does not match */
#define EXIT_USAGE 2        /* bad arguments, unreadable input, invalid config */
#define INPUT_MAX (1 << 20) /* largest rawData or decode input */
#define KEY_FILE_MAX 4096   /* largest --session-key-file */

static const char usage_text[] =
    "usage: wxsession COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  sign (--raw-data TEXT | --raw-data-file FILE) (--session-key KEY | --session-key-file "
    "FILE)\n"
    "      print the weapp-session signature: lowercase hex sha1(rawData + session_key).\n"
    "      rawData is the decoded X-WX-RawData value; a file is hashed byte for byte.\n"
    "  verify (the arguments of sign) --signature SIG\n"
    "      print \"ok\" and exit 0 when SIG is the signature, else print \"mismatch\", exit 1\n"
    "  decode [-n] TEXT\n"
    "      strictly percent-decode TEXT (an X-WX-RawData header value) as decodeURIComponent\n"
    "      does and print the bytes (-n: without a trailing newline)\n"
    "  check-config [--config FILE] [--dev] [--OPTION=VALUE | --OPTION VALUE ...]\n"
    "      apply defaults < config file < environment < flags, validate, print the effective\n"
    "      configuration (secrets shown as \"***\") and \"config ok\"\n"
    "  config-docs\n"
    "      print the Markdown reference of every option (docs/config.md)\n"
    "  --help, --version\n"
    "\n"
    "A session key file has its trailing newline removed. Keys given with --session-key are\n"
    "visible to other local users in the process list; prefer --session-key-file.\n"
    "Exit status: 0 success, 1 signature mismatch, 2 usage, input or configuration error.\n"
    "\n"
    "check-config options (the same as wxsessiond's; --dev turns the simulator on):\n";

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

static void usage(FILE *out)
{
    all_options all;
    wxs_config *cfg = config_new(&all);
    fputs(usage_text, out);
    wxs_config_print_help(cfg, out);
    wxs_config_free(cfg);
}

static void config_docs(FILE *out)
{
    all_options all;
    wxs_config *cfg = config_new(&all);
    wxs_config_print_markdown(cfg, out);
    wxs_config_free(cfg);
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

/* ------------------------------------------------------------------ check-config */

/* Apply the option flags of argv[0..argc) to cfg in order (--config FILE and --dev skipped). */
static int apply_flags(wxs_config *cfg, int argc, char **argv)
{
    char err[512];
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(arg, "--dev") == 0 || strncmp(arg, "--config=", 9) == 0)
            continue;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return die("unexpected argument '%s' (see --help)", arg);
        char name[128];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        if (eq != NULL) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - arg - 2), arg + 2);
            value = eq + 1;
        } else if (i + 1 < argc) {
            snprintf(name, sizeof name, "%s", arg + 2);
            value = argv[++i];
        } else {
            return die("option '%s' needs a value", arg);
        }
        if (wxs_config_set(cfg, name, value, err, sizeof err) < 0)
            return die("%s", err);
    }
    return 0;
}

/* Find --config FILE / --config=FILE and --dev; EXIT_USAGE when --config lacks its value. */
static int scan_modes(int argc, char **argv, const char **config_path, int *dev)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return die("--config needs a FILE");
            *config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *config_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--dev") == 0) {
            *dev = 1;
        }
    }
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    const char *config_path = NULL;
    int dev = 0;
    char err[512];
    int rc = scan_modes(argc, argv, &config_path, &dev);
    if (rc != 0)
        return rc;
    all_options all;
    wxs_config *cfg = config_new(&all);
    if (cfg == NULL)
        return die("out of memory");
    rc = EXIT_USAGE;
    if (dev && wxs_config_set(cfg, "simulator.enabled", "true", err, sizeof err) < 0) {
        die("%s", err);
        goto out;
    }
    if (config_path != NULL && wxs_config_load_file(cfg, config_path, err, sizeof err) < 0) {
        die("%s", err);
        goto out;
    }
    if (wxs_config_load_env(cfg, err, sizeof err) < 0) {
        die("%s", err);
        goto out;
    }
    if (apply_flags(cfg, argc, argv) != 0)
        goto out;
    if (wxs_config_validate(cfg, err, sizeof err) < 0) {
        die("%s", err);
        goto out;
    }
    if (wxs_config_dump(cfg, stdout) < 0) {
        die("cannot write the configuration");
        goto out;
    }
    printf("config ok\n");
    rc = 0;
out:
    wxs_config_free(cfg);
    return rc;
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
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        rc = 0;
    } else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("wxsession %s\n", WXS_VERSION);
        rc = 0;
    } else if (strcmp(cmd, "sign") == 0 || strcmp(cmd, "verify") == 0) {
        rc = cmd_sign(argc - 2, argv + 2, strcmp(cmd, "verify") == 0);
    } else if (strcmp(cmd, "decode") == 0) {
        rc = cmd_decode(argc - 2, argv + 2);
    } else if (strcmp(cmd, "check-config") == 0) {
        rc = cmd_check_config(argc - 2, argv + 2);
    } else if (strcmp(cmd, "config-docs") == 0) {
        config_docs(stdout);
        rc = 0;
    } else {
        rc = die("unknown command '%s' (see --help)", cmd);
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = die("cannot write to standard output");
    return rc;
}

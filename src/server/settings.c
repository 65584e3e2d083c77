/* settings.c: reading wxsessiond's configuration (settings.h): the modes (--dev,
 * --simulator-only, --check-config, --help, --version), the config file, the environment and the
 * option flags, in that order of precedence, into the registered option tables. */
#include "settings.h"

#include <stdio.h>
#include <string.h>

#define DEV_APP_ID "wx0000000000000dev"
#define DEV_APP_SECRET "0000000000000000000000000000dev0"

static const char usage_text[] =
    "usage: wxsessiond [--config FILE] [--dev] [--simulator-only] [--OPTION=VALUE ...]\n"
    "\n"
    "  --config FILE     read a JSON config file (keys as in docs/config.md)\n"
    "  --dev             embedded default: SQLite store, the built-in WeChat simulator\n"
    "                    and a development appId/appSecret; no Redis, no WeChat account\n"
    "  --simulator-only  serve only the WeChat simulator (for tests and benchmarks)\n"
    "  --check-config    print the effective configuration (secrets hidden) and exit\n"
    "  --help, --version\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reads the configuration again and applies\n"
    "log.level and log.format (other options take effect at the next start).\n"
    "\n"
    "Options (defaults < config file < WXS_* environment < flags):\n";

/* The modes of argv: what is not an option flag. */
typedef struct modes {
    const char *config_path;
    int dev;
    int check;
    int help;
    int version;
} modes;

static void scan_modes(settings *s, int argc, char **argv, modes *m)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            m->help = 1;
        else if (strcmp(a, "--version") == 0)
            m->version = 1;
        else if (strcmp(a, "--dev") == 0)
            m->dev = 1;
        else if (strcmp(a, "--simulator-only") == 0)
            s->sim_only = 1;
        else if (strcmp(a, "--check-config") == 0)
            m->check = 1;
        else if (strcmp(a, "--config") == 0 && i + 1 < argc)
            m->config_path = argv[++i];
        else if (strncmp(a, "--config=", 9) == 0)
            m->config_path = a + 9;
    }
}

static int is_mode(const char *a)
{
    return strcmp(a, "--dev") == 0 || strcmp(a, "--simulator-only") == 0 ||
           strcmp(a, "--check-config") == 0 || strncmp(a, "--config=", 9) == 0;
}

/* "unknown option '--NAME'" with the nearest option, into err. */
static int unknown_option(const settings *s, const char *name, char *err, size_t errlen)
{
    const char *near = wxs_config_suggest(s->cfg, name);
    snprintf(err, errlen, "unknown option '--%.64s'%s%s%s (see --help)", name,
             near != NULL ? "; did you mean '--" : "", near != NULL ? near : "",
             near != NULL ? "'?" : "");
    return WXS_ECONFIG;
}

/* Apply the option flags of argv, in order: --NAME=VALUE or --NAME VALUE. */
static int apply_flags(settings *s, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%.64s' (see --help)", a);
            return WXS_ECONFIG;
        }
        if (is_mode(a))
            continue;
        const char *eq = strchr(a, '=');
        char name[128];
        snprintf(name, sizeof name, "%.*s", eq != NULL ? (int)(eq - a - 2) : (int)strlen(a + 2),
                 a + 2);
        if (!wxs_config_has(s->cfg, name))
            return unknown_option(s, name, err, errlen);
        if (eq == NULL && i + 1 >= argc) {
            snprintf(err, errlen, "option '%.64s' needs a value", a);
            return WXS_ECONFIG;
        }
        int rc = wxs_config_set(s->cfg, name, eq != NULL ? eq + 1 : argv[++i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Set name to value unless it is set already (non-empty). */
static int default_to(settings *s, const char *name, const char *value, char *err, size_t errlen)
{
    if (wxs_config_get_str(s->cfg, name)[0] != '\0')
        return 0;
    return wxs_config_set(s->cfg, name, value, err, errlen);
}

/* The sources in order of precedence; the simulator's development app last. */
static int load(settings *s, int argc, char **argv, const modes *m, char *err, size_t errlen)
{
    int rc = 0;
    if (m->dev || s->sim_only) {
        rc = wxs_config_set(s->cfg, "simulator.enabled", "true", err, errlen);
        if (rc == 0)
            rc = wxs_config_set(s->cfg, "appId", DEV_APP_ID, err, errlen);
        if (rc == 0)
            rc = wxs_config_set(s->cfg, "appSecret", DEV_APP_SECRET, err, errlen);
    }
    if (rc == 0 && m->dev)
        rc = wxs_config_set(s->cfg, "sqlite.path", "wxsession-dev.db", err, errlen);
    if (rc == 0 && m->config_path != NULL)
        rc = wxs_config_load_file(s->cfg, m->config_path, err, errlen);
    if (rc == 0)
        rc = wxs_config_load_env(s->cfg, err, errlen);
    if (rc == 0)
        rc = apply_flags(s, argc, argv, err, errlen);
    /* the simulator answers for the development app: it needs no real credentials */
    if (rc == 0 && s->server.simulator)
        rc = default_to(s, "appId", DEV_APP_ID, err, errlen);
    if (rc == 0 && s->server.simulator)
        rc = default_to(s, "appSecret", DEV_APP_SECRET, err, errlen);
    if (rc == 0)
        rc = wxs_config_validate(s->cfg, err, errlen);
    return rc;
}

int settings_read(settings *s, int argc, char **argv, char *err, size_t errlen)
{
    modes m = {0};
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->cfg = wxs_config_new();
    if (s->cfg == NULL || wxs_config_register(s->cfg, &server_option_table, &s->server) < 0 ||
        wxs_config_register(s->cfg, &onestroke_option_table, &s->onestroke) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = WXS_ENOMEM;
        goto out;
    }
    scan_modes(s, argc, argv, &m);
    if (m.help || m.version) {
        if (m.help) {
            fputs(usage_text, stdout);
            wxs_config_print_help(s->cfg, stdout);
        } else {
            printf("wxsessiond %s (commit %s)\n", WXS_VERSION, wxs_build_commit);
        }
        rc = SETTINGS_EXIT;
        goto out;
    }
    rc = load(s, argc, argv, &m, err, errlen);
    if (rc == 0 && m.check) {
        wxs_config_dump(s->cfg, stdout);
        printf("config ok\n");
        rc = SETTINGS_EXIT;
    }
out:
    if (rc != SETTINGS_RUN)
        settings_free(s);
    return rc;
}

void settings_free(settings *s)
{
    wxs_config_free(s->cfg);
    s->cfg = NULL;
}

wxs_log_level settings_log_level(const char *level)
{
    if (strcmp(level, "debug") == 0)
        return WXS_LOG_DEBUG;
    if (strcmp(level, "warn") == 0)
        return WXS_LOG_WARN;
    if (strcmp(level, "error") == 0)
        return WXS_LOG_ERROR;
    return WXS_LOG_INFO;
}

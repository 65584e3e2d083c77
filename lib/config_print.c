/* config_print.c: the option table (lib/config.c) printed: the effective config as JSON (dump,
 * `wxsession check-config`), the --help option list and docs/config.md
 * (`wxsession config-docs`). */
#include "config_impl.h"

#include <stdio.h>
#include <string.h>

#define DUMP_MAX (1 << 20) /* dump output */

/* ------------------------------------------------------------------ dump */

/* Append o's value as JSON: secrets as "***" when set. */
static int dump_value(const wxs_config *cfg, const config_option *o, wxs__buf *b)
{
    if (o->type == T_INT)
        return wxs__buf_printf(b, "%lld", *int_field(cfg, o));
    if (o->type == T_BOOL)
        return wxs__buf_adds(b, *int_field(cfg, o) ? "true" : "false");
    const char *s = *str_field(cfg, o);
    if (o->type == T_SECRET)
        return wxs__buf_adds(b, *s ? "\"***\"" : "\"\"");
    int rc = wxs__buf_adds(b, "\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, s, strlen(s));
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"");
    return rc;
}

/* Length of the group part of a dotted name ("redis" of "redis.port"), 0 for top-level. */
static size_t group_len(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot != NULL ? (size_t)(dot - name) : 0;
}

/* The whole config as pretty JSON, one nested object per group, in table order. */
static int dump_json(const wxs_config *cfg, wxs__buf *b)
{
    int rc = wxs__buf_adds(b, "{");
    const char *group = NULL; /* the open group's first option name */
    size_t glen = 0;
    int first = 1;       /* no member written yet at the top level */
    int group_first = 0; /* no member written yet in the open group */
    for (size_t i = 0; i < wxs__config_option_count && rc == 0; i++) {
        const config_option *o = &wxs__config_options[i];
        size_t g = group_len(o->name);
        if (group != NULL && (g != glen || strncmp(group, o->name, g) != 0)) {
            rc = wxs__buf_adds(b, "\n  }");
            group = NULL;
        }
        if (rc == 0 && g > 0 && group == NULL) {
            rc = wxs__buf_printf(b, "%s\n  \"%.*s\": {", first ? "" : ",", (int)g, o->name);
            group = o->name;
            glen = g;
            group_first = 1;
            first = 0;
        }
        const char *key = g > 0 ? o->name + g + 1 : o->name;
        int is_first = g > 0 ? group_first : first;
        if (rc == 0)
            rc = wxs__buf_printf(b, "%s\n%s\"%s\": ", is_first ? "" : ",", g ? "    " : "  ", key);
        if (rc == 0)
            rc = dump_value(cfg, o, b);
        if (g > 0)
            group_first = 0;
        else
            first = 0;
    }
    if (rc == 0 && group != NULL)
        rc = wxs__buf_adds(b, "\n  }");
    if (rc == 0)
        rc = wxs__buf_adds(b, "\n}\n");
    return rc;
}

int wxs_config_dump(const wxs_config *cfg, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return WXS_EINVAL;
    wxs__buf b;
    wxs__buf_init(&b, DUMP_MAX);
    int rc = dump_json(cfg, &b);
    if (rc == 0 && (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0))
        rc = WXS_EIO;
    wxs__buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ help and docs */

/* The default as shown in help and docs: 5757, true, "text"; secrets "***" when non-empty. */
static void default_text(const config_option *o, char *out, size_t outlen)
{
    if (o->type == T_INT)
        snprintf(out, outlen, "%lld", o->def_int);
    else if (o->type == T_BOOL)
        snprintf(out, outlen, "%s", o->def_int ? "true" : "false");
    else if (o->type == T_SECRET && o->def_str[0] != '\0')
        snprintf(out, outlen, "\"***\"");
    else
        snprintf(out, outlen, "\"%s\"", o->def_str);
}

/* The flag's value placeholder: N, BOOL, STRING, SECRET or the enum's choices (a|b). */
static void metavar(const config_option *o, char *out, size_t outlen)
{
    static const char *const names[] = {"N", "BOOL", "STRING", "", "SECRET"};
    snprintf(out, outlen, "%s", names[o->type]);
    if (o->type != T_ENUM)
        return;
    for (const char *const *c = o->choices; *c != NULL; c++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", c == o->choices ? "" : "|", *c);
    }
}

void wxs_config_print_help(FILE *out)
{
    int width = 0;
    char mv[64];
    char def[STRING_MAX / 16];
    for (size_t i = 0; i < wxs__config_option_count; i++) {
        metavar(&wxs__config_options[i], mv, sizeof mv);
        int w = (int)(strlen(wxs__config_options[i].flag) + strlen(mv) + 3);
        width = w > width ? w : width;
    }
    for (size_t i = 0; i < wxs__config_option_count; i++) {
        const config_option *o = &wxs__config_options[i];
        char flag[128];
        metavar(o, mv, sizeof mv);
        default_text(o, def, sizeof def);
        snprintf(flag, sizeof flag, "--%s=%s", o->flag, mv);
        int secret = o->type == T_SECRET;
        fprintf(out, "  %-*s  %s (default %s; env %s%s%s%s)\n", width, flag, o->help, def, o->env,
                secret ? " or " : "", secret ? o->env : "", secret ? "_FILE" : "");
    }
}

static const char markdown_intro[] =
    "# wxsession configuration\n"
    "\n"
    "<!-- Generated by `wxsession config-docs` from the option table in lib/config.c; edit "
    "that table, not this file. -->\n"
    "\n"
    "`wxsessiond` and `wxsession check-config` read their configuration from four places; each "
    "overrides the one before it:\n"
    "\n"
    "**defaults < config file < environment < command-line flags**\n"
    "\n"
    "- The config file (`--config FILE`) is a JSON object of at most 1 MiB. Dotted option names "
    "are nested objects: `redis.port` is written `{\"redis\": {\"port\": 6379}}`. Unknown keys, "
    "duplicate keys, values of the wrong JSON type and integers out of range are errors that "
    "name the option; the program does not start.\n"
    "- Environment variables are `WXS_` and the option name in upper snake case "
    "(`redis.timeoutMs` is `WXS_REDIS_TIMEOUT_MS`).\n"
    "- Flags are `--` and the name in kebab case (`--redis-timeout-ms=1000` or "
    "`--redis-timeout-ms 1000`).\n"
    "- From the environment and flags, integers are plain decimal (no spaces, signs other than "
    "`-`, or units) and booleans are `true`/`false`, `1`/`0` or `yes`/`no`.\n"
    "- Secrets (`appSecret`, `redis.password`, `mongo.password`, `mongo.uri`) can also be read "
    "from a file named by `WXS_<NAME>_FILE` (e.g. `WXS_APP_SECRET_FILE=/run/secrets/app_secret`)"
    ": at most 4096 bytes, trailing newlines removed; setting both `WXS_<NAME>` and "
    "`WXS_<NAME>_FILE` is an error. Secrets never appear in logs or error messages and are "
    "shown as `\"***\"` by `wxsession check-config`. Prefer files or the environment to flags, "
    "which other local users can see in the process list.\n"
    "- Any string value is at most 4096 bytes.\n"
    "- `appId` and `appSecret` are required unless `simulator.enabled` is true "
    "(`wxsessiond --dev`).\n"
    "\n"
    "## Options\n"
    "\n"
    "| option (file key) | flag | env | type | default | range | description |\n"
    "|---|---|---|---|---|---|---|\n";

/* The type column of docs/config.md. */
static void markdown_type(const config_option *o, char *out, size_t outlen)
{
    static const char *const names[] = {"integer", "boolean", "string", "enum:", "secret string"};
    snprintf(out, outlen, "%s", names[o->type]);
    if (o->type != T_ENUM)
        return;
    for (const char *const *c = o->choices; *c != NULL; c++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s `%s`", c == o->choices ? "" : ",", *c);
    }
}

void wxs_config_print_markdown(FILE *out)
{
    char type[128];
    char def[STRING_MAX / 16];
    fputs(markdown_intro, out);
    for (size_t i = 0; i < wxs__config_option_count; i++) {
        const config_option *o = &wxs__config_options[i];
        char range[64] = "";
        markdown_type(o, type, sizeof type);
        default_text(o, def, sizeof def);
        if (o->type == T_INT)
            snprintf(range, sizeof range, "%lld – %lld", o->min, o->max);
        fprintf(out, "| `%s` | `--%s` | `%s`%s%s%s | %s | `%s` | %s | %s |\n", o->name, o->flag,
                o->env, o->type == T_SECRET ? ", `" : "", o->type == T_SECRET ? o->env : "",
                o->type == T_SECRET ? "_FILE`" : "", type, def, range, o->help);
    }

    wxs_config *defaults = wxs_config_new();
    wxs__buf b;
    wxs__buf_init(&b, DUMP_MAX);
    if (defaults != NULL && dump_json(defaults, &b) == 0)
        fprintf(out, "\n## Example: the defaults as a config file\n\n```json\n%s```\n", b.data);
    wxs__buf_free(&b);
    wxs_config_free(defaults);
}

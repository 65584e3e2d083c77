/* config_print.c: the registered option tables (lib/config.c) printed: the effective config as
 * JSON (dump, `wxsession check-config`), the --help option list and docs/config.md
 * (`wxsession config-docs`). */
#include "config_impl.h"

#include <stdio.h>
#include <string.h>

#define DUMP_MAX (1 << 20) /* dump output */

/* ------------------------------------------------------------------ dump */

/* Append o's value as JSON: secrets as "***" when set. */
static int dump_value(const option_ref *r, wxs__buf *b)
{
    const wxs_option *o = r->o;
    if (o->type == WXS_OPT_INT)
        return wxs__buf_printf(b, "%lld", *int_field(r->fields, o));
    if (o->type == WXS_OPT_BOOL)
        return wxs__buf_adds(b, *int_field(r->fields, o) ? "true" : "false");
    const char *s = *str_field(r->fields, o);
    if (o->type == WXS_OPT_SECRET)
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

/* 1 when an option before the i-th has the same group as name (len g > 0): the group was
 * written with that one. */
static int group_seen(const wxs_config *cfg, size_t i, const char *name, size_t g)
{
    option_ref r;
    for (size_t j = 0; j < i && wxs__config_option_at(cfg, j, &r) == 0; j++) {
        if (group_len(r.o->name) == g && strncmp(r.o->name, name, g) == 0)
            return 1;
    }
    return 0;
}

/* Append one member, "key": value, at the indent of its level. */
static int dump_member(wxs__buf *b, const option_ref *r, const char *key, int first, int nested)
{
    int rc = wxs__buf_printf(b, "%s\n%s\"%s\": ", first ? "" : ",", nested ? "    " : "  ", key);
    return rc == 0 ? dump_value(r, b) : rc;
}

/* Append the group of the i-th option (g bytes of its name) as one object holding every option
 * of that group, from whichever table. */
static int dump_group(const wxs_config *cfg, size_t i, size_t g, wxs__buf *b)
{
    option_ref r;
    wxs__config_option_at(cfg, i, &r);
    const char *name = r.o->name;
    int rc = wxs__buf_printf(b, "\n  \"%.*s\": {", (int)g, name);
    int first = 1;
    for (size_t j = i; rc == 0 && wxs__config_option_at(cfg, j, &r) == 0; j++) {
        if (group_len(r.o->name) != g || strncmp(r.o->name, name, g) != 0)
            continue;
        rc = dump_member(b, &r, r.o->name + g + 1, first, 1);
        first = 0;
    }
    return rc == 0 ? wxs__buf_adds(b, "\n  }") : rc;
}

/* The whole config as pretty JSON: top-level options and one nested object per group, in the
 * order of their first option over the tables. */
static int dump_json(const wxs_config *cfg, wxs__buf *b)
{
    int rc = wxs__buf_adds(b, "{");
    int first = 1;
    option_ref r;
    for (size_t i = 0; rc == 0 && wxs__config_option_at(cfg, i, &r) == 0; i++) {
        size_t g = group_len(r.o->name);
        if (g == 0) {
            rc = dump_member(b, &r, r.o->name, first, 0);
        } else if (!group_seen(cfg, i, r.o->name, g)) {
            rc = first ? 0 : wxs__buf_adds(b, ",");
            if (rc == 0)
                rc = dump_group(cfg, i, g, b);
        } else {
            continue;
        }
        first = 0;
    }
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
static void default_text(const wxs_option *o, char *out, size_t outlen)
{
    if (o->type == WXS_OPT_INT)
        snprintf(out, outlen, "%lld", o->def_int);
    else if (o->type == WXS_OPT_BOOL)
        snprintf(out, outlen, "%s", o->def_int ? "true" : "false");
    else if (o->type == WXS_OPT_SECRET && o->def_str[0] != '\0')
        snprintf(out, outlen, "\"***\"");
    else
        snprintf(out, outlen, "\"%s\"", o->def_str);
}

/* The flag's value placeholder: N, BOOL, STRING, SECRET or the enum's choices (a|b). */
static void metavar(const wxs_option *o, char *out, size_t outlen)
{
    static const char *const names[] = {"N", "BOOL", "STRING", "", "SECRET"};
    snprintf(out, outlen, "%s", names[o->type]);
    if (o->type != WXS_OPT_ENUM)
        return;
    for (const char *const *c = o->choices; *c != NULL; c++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", c == o->choices ? "" : "|", *c);
    }
}

void wxs_config_print_help(const wxs_config *cfg, FILE *out)
{
    int width = 0;
    char mv[64];
    char def[STRING_MAX / 16];
    option_ref r;
    if (cfg == NULL || out == NULL)
        return;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        metavar(r.o, mv, sizeof mv);
        int w = (int)(strlen(r.o->flag) + strlen(mv) + 3);
        width = w > width ? w : width;
    }
    for (size_t t = 0; t < cfg->ntables; t++) {
        const wxs_option_table *table = cfg->tables[t].table;
        fprintf(out, "%s%s:\n", t ? "\n" : "", table->title);
        for (size_t i = 0; i < table->count; i++) {
            const wxs_option *o = &table->options[i];
            char flag[128];
            metavar(o, mv, sizeof mv);
            default_text(o, def, sizeof def);
            snprintf(flag, sizeof flag, "--%s=%s", o->flag, mv);
            int secret = o->type == WXS_OPT_SECRET;
            fprintf(out, "  %-*s  %s (default %s; env %s%s%s%s)\n", width, flag, o->help, def,
                    o->env, secret ? " or " : "", secret ? o->env : "", secret ? "_FILE" : "");
        }
    }
}

static const char markdown_intro[] =
    "# wxsession configuration\n"
    "\n"
    "<!-- Generated by `wxsession config-docs` from the option tables (lib/config.c, "
    "src/server/server_options.c, src/onestroke/options.c); edit those, not this file. -->\n"
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
    "- Each part registers its own options: the session layer (libwxsession), the server "
    "(wxsessiond) and the One Stroke app; the tables below are theirs.\n";

/* The type column of docs/config.md. */
static void markdown_type(const wxs_option *o, char *out, size_t outlen)
{
    static const char *const names[] = {"integer", "boolean", "string", "enum:", "secret string"};
    snprintf(out, outlen, "%s", names[o->type]);
    if (o->type != WXS_OPT_ENUM)
        return;
    for (const char *const *c = o->choices; *c != NULL; c++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s `%s`", c == o->choices ? "" : ",", *c);
    }
}

/* One table of docs/config.md: a heading and a row per option. */
static void markdown_table(const wxs_option_table *table, FILE *out)
{
    char type[128];
    char def[STRING_MAX / 16];
    fprintf(out, "\n## %s\n\n", table->title);
    fputs("| option (file key) | flag | env | type | default | range | description |\n"
          "|---|---|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < table->count; i++) {
        const wxs_option *o = &table->options[i];
        char range[64] = "";
        char alias[96] = "";
        markdown_type(o, type, sizeof type);
        default_text(o, def, sizeof def);
        if (o->type == WXS_OPT_INT)
            snprintf(range, sizeof range, "%lld – %lld", o->min, o->max);
        if (o->alias != NULL)
            snprintf(alias, sizeof alias, "; the seed's key `%s` sets it too", o->alias);
        fprintf(out, "| `%s` | `--%s` | `%s`%s%s%s | %s | `%s` | %s | %s%s |\n", o->name, o->flag,
                o->env, o->type == WXS_OPT_SECRET ? ", `" : "",
                o->type == WXS_OPT_SECRET ? o->env : "", o->type == WXS_OPT_SECRET ? "_FILE`" : "",
                type, def, range, o->help, alias);
    }
}

void wxs_config_print_markdown(const wxs_config *cfg, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return;
    fputs(markdown_intro, out);
    for (size_t t = 0; t < cfg->ntables; t++)
        markdown_table(cfg->tables[t].table, out);
    wxs__buf b;
    wxs__buf_init(&b, DUMP_MAX);
    if (dump_json(cfg, &b) == 0)
        fprintf(out, "\n## Example: the defaults as a config file\n\n```json\n%s```\n", b.data);
    wxs__buf_free(&b);
}

/* config_print.c: the registered option tables (lib/config.c) printed: the effective config as
 * JSON (dump, `wxsession check-config`), the --help option list, docs/config.md, the options of
 * the man pages and the commented sample config file (`wxsession config-docs`). */
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
    "name the option; the program does not start. A line whose first characters other than "
    "spaces and tabs are `//` or `#` is a comment (whole lines only, not after a value): "
    "`wxsession config-docs --format sample` prints every option that way, commented, as the "
    "package installs it in `/etc/wxsession/wxsession.json`.\n"
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

/* ------------------------------------------------------------------ man page */

/* Write s as roff text: backslashes and hyphens escaped, `code` in bold, a leading '.' or '\''
 * made literal. */
static void roff_text(FILE *out, const char *s)
{
    int bold = 0;
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else if (*s == '`')
            fputs((bold = !bold) ? "\\fB" : "\\fR", out);
        else
            fputc(*s, out);
    }
    if (bold)
        fputs("\\fR", out);
}

/* One option as a roff tagged paragraph. */
static void man_option(const wxs_option *o, FILE *out)
{
    char mv[64];
    char def[STRING_MAX / 16];
    metavar(o, mv, sizeof mv);
    default_text(o, def, sizeof def);
    fputs(".TP\n\\fB", out);
    roff_text(out, "--");
    roff_text(out, o->flag);
    fputs("\\fR=\\fI", out);
    roff_text(out, mv);
    fputs("\\fR\n", out);
    roff_text(out, o->help);
    fputs(".\nDefault ", out);
    roff_text(out, def);
    if (o->type == WXS_OPT_INT)
        fprintf(out, ", from %lld to %lld", o->min, o->max);
    fputs(".\nConfig file key \\fB", out);
    roff_text(out, o->name);
    fputs("\\fR", out);
    if (o->alias != NULL) {
        fputs(" (or \\fB", out);
        roff_text(out, o->alias);
        fputs("\\fR)", out);
    }
    fputs("; environment \\fB", out);
    roff_text(out, o->env);
    fputs("\\fR", out);
    if (o->type == WXS_OPT_SECRET) {
        fputs(" or \\fB", out);
        roff_text(out, o->env);
        fputs("_FILE\\fR (a file holding it)", out);
    }
    fputs(".\n", out);
}

void wxs_config_print_man(const wxs_config *cfg, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return;
    for (size_t t = 0; t < cfg->ntables; t++) {
        const wxs_option_table *table = cfg->tables[t].table;
        fputs(".SS \"", out);
        roff_text(out, table->title);
        fputs("\"\n", out);
        for (size_t i = 0; i < table->count; i++)
            man_option(&table->options[i], out);
    }
}

/* ------------------------------------------------------------------ sample config file */

#define SAMPLE_WIDTH 100 /* the sample's comment lines wrap before this column */
#define SAMPLE_RULE                                                                                \
    "--------------------------------------------------------------------------------------------" \
    "--"

/* What the sample printer walks: the config, the names written active, the output. */
typedef struct sample {
    const wxs_config *cfg;
    const char *const *active;
    wxs__buf *b;
} sample;

/* 1 when name is in the NULL-terminated list (NULL: an empty list). */
static int listed(const char *const *list, const char *name)
{
    for (; list != NULL && *list != NULL; list++) {
        if (strcmp(*list, name) == 0)
            return 1;
    }
    return 0;
}

/* 1 when a and b are options of one group ("redis.host", "redis.port"). */
static int same_group(const char *a, const char *b)
{
    size_t g = group_len(a);
    return g > 0 && group_len(b) == g && strncmp(a, b, g) == 0;
}

/* 1 when the i-th option (named name) is written active: it is listed, or it is the last option
 * of a group that has none listed (a JSON object must end with a member, without a comma). */
static int is_active(const sample *s, size_t i, const char *name)
{
    option_ref r;
    int last = 1;
    if (listed(s->active, name))
        return 1;
    if (group_len(name) == 0)
        return 0;
    for (size_t j = 0; wxs__config_option_at(s->cfg, j, &r) == 0; j++) {
        if (!same_group(r.o->name, name))
            continue;
        if (listed(s->active, r.o->name))
            return 0;
        if (j > i)
            last = 0;
    }
    return last;
}

/* Append o's default as JSON. */
static int default_json(const wxs_option *o, wxs__buf *b)
{
    if (o->type == WXS_OPT_INT)
        return wxs__buf_printf(b, "%lld", o->def_int);
    if (o->type == WXS_OPT_BOOL)
        return wxs__buf_adds(b, o->def_int ? "true" : "false");
    int rc = wxs__buf_adds(b, "\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, o->def_str, strlen(o->def_str));
    return rc == 0 ? wxs__buf_adds(b, "\"") : rc;
}

/* Append text as comment lines at indent, wrapped at spaces before SAMPLE_WIDTH. */
static int add_comment(wxs__buf *b, int indent, const char *text)
{
    int rc = 0;
    size_t room = SAMPLE_WIDTH - (size_t)indent - 3;
    while (rc == 0 && *text != '\0') {
        size_t n = strlen(text);
        if (n > room) {
            n = room;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(text, " ");
        }
        rc = wxs__buf_printf(b, "%*s// %.*s\n", indent, "", (int)n, text);
        text += n;
        while (*text == ' ')
            text++;
    }
    return rc;
}

/* Append the option of r: its help and facts as comments, then its key and value (cfg's when
 * active, else the default; a secret's always ""), commented unless active, followed by a comma
 * unless it ends its object. */
static int add_sample_option(const sample *s, const option_ref *r, int indent, int active,
                             int comma)
{
    const wxs_option *o = r->o;
    char mv[64];
    char def[STRING_MAX / 16];
    char facts[512];
    size_t g = group_len(o->name);
    metavar(o, mv, sizeof mv);
    default_text(o, def, sizeof def);
    int n = snprintf(facts, sizeof facts, "default %s", def);
    if (o->type == WXS_OPT_INT)
        n += snprintf(facts + n, sizeof facts - (size_t)n, " (%lld to %lld)", o->min, o->max);
    if (o->type == WXS_OPT_ENUM)
        n += snprintf(facts + n, sizeof facts - (size_t)n, " (%s)", mv);
    n += snprintf(facts + n, sizeof facts - (size_t)n, "; env %s", o->env);
    if (o->type == WXS_OPT_SECRET)
        n += snprintf(facts + n, sizeof facts - (size_t)n, " or %s_FILE", o->env);
    snprintf(facts + n, sizeof facts - (size_t)n, "; flag --%s%s%s", o->flag,
             o->alias != NULL ? "; old key " : "", o->alias != NULL ? o->alias : "");
    int rc = wxs__buf_adds(s->b, "\n");
    if (rc == 0)
        rc = add_comment(s->b, indent, o->help);
    if (rc == 0)
        rc = add_comment(s->b, indent, facts);
    if (rc == 0)
        rc = wxs__buf_printf(s->b, "%*s%s\"%s\": ", indent, "", active ? "" : "// ",
                             o->name + (g > 0 ? g + 1 : 0));
    if (rc == 0 && o->type == WXS_OPT_SECRET)
        rc = wxs__buf_adds(s->b, "\"\"");
    else if (rc == 0 && active)
        rc = dump_value(r, s->b);
    else if (rc == 0)
        rc = default_json(o, s->b);
    if (rc == 0)
        rc = wxs__buf_adds(s->b, comma ? ",\n" : "\n");
    return rc;
}

/* Append the object of the group of the first-th option: its commented options, then its
 * active ones, the last without a comma. */
static int add_sample_group(const sample *s, size_t first)
{
    option_ref r, head;
    size_t remaining = 0;
    wxs__config_option_at(s->cfg, first, &head);
    for (size_t j = first; wxs__config_option_at(s->cfg, j, &r) == 0; j++)
        remaining += same_group(r.o->name, head.o->name) && is_active(s, j, r.o->name);
    int g = (int)group_len(head.o->name);
    int rc = wxs__buf_printf(s->b, "\n    // %.*s %.*s\n    \"%.*s\": {", g, head.o->name,
                             SAMPLE_WIDTH - 9 - g, SAMPLE_RULE, g, head.o->name);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = first; rc == 0 && wxs__config_option_at(s->cfg, j, &r) == 0; j++) {
            int active = is_active(s, j, r.o->name);
            if (!same_group(r.o->name, head.o->name) || active != pass)
                continue;
            rc = add_sample_option(s, &r, 8, active, !active || --remaining > 0);
        }
    }
    return rc;
}

/* Append the top-level object: the commented top-level options, the active ones, then the
 * groups (in the order of their first option), the last member without a comma. */
static int add_sample(const sample *s)
{
    option_ref r;
    size_t remaining = 0;
    for (size_t i = 0; wxs__config_option_at(s->cfg, i, &r) == 0; i++) {
        size_t g = group_len(r.o->name);
        remaining += g == 0 ? is_active(s, i, r.o->name) : !group_seen(s->cfg, i, r.o->name, g);
    }
    int rc = wxs__buf_adds(s->b, "{");
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; rc == 0 && wxs__config_option_at(s->cfg, i, &r) == 0; i++) {
            size_t g = group_len(r.o->name);
            if (g == 0 && pass < 2 && is_active(s, i, r.o->name) == pass) {
                rc = add_sample_option(s, &r, 4, pass, !pass || --remaining > 0);
            } else if (g > 0 && pass == 2 && !group_seen(s->cfg, i, r.o->name, g)) {
                rc = add_sample_group(s, i);
                if (rc == 0)
                    rc = wxs__buf_adds(s->b, --remaining > 0 ? "    },\n" : "    }\n");
            }
        }
    }
    if (rc == 0)
        rc = wxs__buf_adds(s->b, "}\n");
    return rc;
}

int wxs_config_print_sample(const wxs_config *cfg, const char *const *active, FILE *out)
{
    if (cfg == NULL || out == NULL)
        return WXS_EINVAL;
    wxs__buf b;
    wxs__buf_init(&b, DUMP_MAX);
    sample s = {cfg, active, &b};
    int rc = add_sample(&s);
    if (rc == 0 && (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0))
        rc = WXS_EIO;
    wxs__buf_free(&b);
    return rc;
}

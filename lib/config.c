/* config.c: the configuration machinery: registered option tables (the library's is in
 * lib/config_table.c) and what applies them: defaults, the JSON config file, environment
 * overrides, flags, validation and get. The same tables drive dump, --help and docs/config.md,
 * printed by lib/config_print.c; config_impl.h holds what the files share. */
#include "config_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_FILE_MAX 4096      /* a WXS_<NAME>_FILE's size */
#define CONFIG_FILE_MAX (1 << 20) /* the JSON config file's size */
#define NAME_MAX_LEN 64           /* an option's (dotted) name */

/* ------------------------------------------------------------------ helpers */

/* Write a formatted reason into err (when there is room) and return rc. Control bytes (a quoted
 * key or value may hold them) become '?', so the reason stays one printable line. */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *p = err; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return rc;
}

/* Free a string value; secrets are wiped first so they do not linger in freed memory. */
static void free_value(const wxs_option *o, char *s)
{
    if (s != NULL && o->type == WXS_OPT_SECRET)
        explicit_bzero(s, strlen(s));
    wxs__free(s);
}

int wxs__config_option_at(const wxs_config *cfg, size_t i, option_ref *out)
{
    for (size_t t = 0; t < cfg->ntables; t++) {
        const wxs_option_table *table = cfg->tables[t].table;
        if (i < table->count) {
            out->o = &table->options[i];
            out->fields = cfg->tables[t].fields;
            return 0;
        }
        i -= table->count;
    }
    return -1;
}

/* 1 when alias (a dotted config key) names name, as a key or as a flag ("redis.ttl" and
 * "redis-ttl"). */
static int alias_matches(const char *alias, const char *name)
{
    if (alias == NULL)
        return 0;
    for (; *alias != '\0' && *name != '\0'; alias++, name++) {
        if (*alias != *name && !(*alias == '.' && *name == '-'))
            return 0;
    }
    return *alias == *name;
}

/* The option called name (its key, its alias, or its flag without dashes) into *out: 1 when
 * found, else 0. */
static int find_option(const wxs_config *cfg, const char *name, option_ref *out)
{
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (strcmp(r.o->name, name) == 0 || strcmp(r.o->flag, name) == 0 ||
            alias_matches(r.o->alias, name)) {
            *out = r;
            return 1;
        }
    }
    return 0;
}

/* 1 when name is a config file key of o: its name or its alias. */
static int is_key_of(const wxs_option *o, const char *name)
{
    return strcmp(o->name, name) == 0 || (o->alias != NULL && strcmp(o->alias, name) == 0);
}

/* 1 when key is "<path>." and more. */
static int in_group(const char *key, const char *path, size_t n)
{
    return key != NULL && strncmp(key, path, n) == 0 && key[n] == '.';
}

/* 1 when some option's key or alias starts with "<path>.", i.e. path names a nested object. */
static int is_group(const wxs_config *cfg, const char *path)
{
    size_t n = strlen(path);
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (in_group(r.o->name, path, n) || in_group(r.o->alias, path, n))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ setting values */

static int check_int(const wxs_option *o, long long v, char *err, size_t errlen)
{
    if (v < o->min || v > o->max)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': %lld is out of range [%lld, %lld]",
                    o->name, v, o->min, o->max);
    return 0;
}

static int set_int(void *fields, const wxs_option *o, long long v, char *err, size_t errlen)
{
    int rc = check_int(o, v, err, errlen);
    if (rc == 0)
        *int_field(fields, o) = v;
    return rc;
}

/* Check value (len bytes, NUL-free) against the option's rules without storing it. The reason
 * quotes the value only for options that are not secrets. */
static int check_string(const wxs_option *o, const char *value, size_t len, char *err,
                        size_t errlen)
{
    if (len > STRING_MAX)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': value is longer than %d bytes", o->name,
                    STRING_MAX);
    if (o->type == WXS_OPT_ENUM) {
        for (const char *const *c = o->choices; *c != NULL; c++) {
            if (strcmp(*c, value) == 0)
                return 0;
        }
        char list[128] = "";
        for (const char *const *c = o->choices; *c != NULL; c++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *c);
        }
        return fail(err, errlen, WXS_ECONFIG, "option '%s': '%.64s' is not one of %s", o->name,
                    value, list);
    }
    char why[160];
    if (o->check != NULL && o->check(value, why, sizeof why) < 0)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': %s", o->name, why);
    return 0;
}

static int set_string(void *fields, const wxs_option *o, const char *value, size_t len, char *err,
                      size_t errlen)
{
    if (memchr(value, '\0', len) != NULL)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': value contains a NUL byte", o->name);
    int rc = check_string(o, value, len, err, errlen);
    if (rc < 0)
        return rc;
    char *copy = wxs__strndup(value, len);
    if (copy == NULL)
        return fail(err, errlen, WXS_ENOMEM, "out of memory");
    char **field = str_field(fields, o);
    free_value(o, *field);
    *field = copy;
    return 0;
}

/* Strict decimal: optional '-', digits only, no spaces or junk. 0, -1 (not a number) or
 * -2 (does not fit in a long long). */
static int parse_int(const char *text, long long *out)
{
    const char *p = text[0] == '-' ? text + 1 : text;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q != '\0'; q++) {
        if (*q < '0' || *q > '9')
            return -1;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

static int parse_bool(const char *text, long long *out)
{
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Set o from text, as a flag or environment variable gives it. */
static int set_text(void *fields, const wxs_option *o, const char *text, char *err, size_t errlen)
{
    long long v = 0;
    int prc;
    switch (o->type) {
    case WXS_OPT_INT:
        prc = parse_int(text, &v);
        if (prc == -2)
            return fail(err, errlen, WXS_ECONFIG,
                        "option '%s': '%.32s' is out of range [%lld, %lld]", o->name, text, o->min,
                        o->max);
        if (prc < 0)
            return fail(err, errlen, WXS_ECONFIG, "option '%s': '%.32s' is not an integer", o->name,
                        text);
        return set_int(fields, o, v, err, errlen);
    case WXS_OPT_BOOL:
        if (parse_bool(text, &v) < 0)
            return fail(err, errlen, WXS_ECONFIG,
                        "option '%s': '%.32s' is not a boolean (true/false/1/0/yes/no)", o->name,
                        text);
        *int_field(fields, o) = v;
        return 0;
    default:
        return set_string(fields, o, text, strlen(text), err, errlen);
    }
}

static const char *json_type_name(const json_t *v)
{
    /* indexed by json_type: OBJECT, ARRAY, STRING, INTEGER, REAL, TRUE, FALSE, NULL */
    static const char *const names[] = {"object", "array",   "string",  "integer",
                                        "real",   "boolean", "boolean", "null"};
    unsigned t = (unsigned)json_typeof(v);
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Set o from a JSON value of the config file; the JSON type must match the option's. */
static int set_json(void *fields, const wxs_option *o, const json_t *v, char *err, size_t errlen)
{
    const char *want = NULL;
    if (o->type == WXS_OPT_INT && json_is_integer(v))
        return set_int(fields, o, json_integer_value(v), err, errlen);
    if (o->type == WXS_OPT_BOOL && json_is_boolean(v)) {
        *int_field(fields, o) = json_is_true(v);
        return 0;
    }
    if (is_string_type(o->type) && json_is_string(v))
        return set_string(fields, o, json_string_value(v), json_string_length(v), err, errlen);
    if (o->type == WXS_OPT_INT)
        want = "an integer";
    else if (o->type == WXS_OPT_BOOL)
        want = "a boolean";
    else
        want = "a string";
    return fail(err, errlen, WXS_ECONFIG, "option '%s': expected %s, got %s", o->name, want,
                json_type_name(v));
}

/* ------------------------------------------------------------------ lifecycle */

/* Set every field of table in fields to its default; 0 or WXS_ENOMEM (the strings set so far
 * stay set: wxs_config_free releases them). */
static int set_defaults(const wxs_option_table *table, void *fields)
{
    for (size_t i = 0; i < table->count; i++) {
        const wxs_option *o = &table->options[i];
        if (!is_string_type(o->type)) {
            *int_field(fields, o) = o->def_int;
            continue;
        }
        *str_field(fields, o) = wxs__strdup(o->def_str);
        if (*str_field(fields, o) == NULL)
            return WXS_ENOMEM;
    }
    return 0;
}

/* 1 when o's name, alias, flag or env var is taken by a registered option. */
static int clashes(const wxs_config *cfg, const wxs_option *o)
{
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        const wxs_option *p = r.o;
        if (is_key_of(p, o->name) || (o->alias != NULL && is_key_of(p, o->alias)) ||
            strcmp(p->flag, o->flag) == 0 || strcmp(p->env, o->env) == 0)
            return 1;
    }
    return 0;
}

int wxs_config_register(wxs_config *cfg, const wxs_option_table *table, void *fields)
{
    if (cfg == NULL || table == NULL || fields == NULL || cfg->ntables == WXS__CONFIG_MAX_TABLES)
        return WXS_EINVAL;
    for (size_t i = 0; i < table->count; i++) {
        if (clashes(cfg, &table->options[i]))
            return WXS_EINVAL;
    }
    for (size_t i = 0; i < table->count; i++) { /* nothing set yet: free() finds NULLs */
        if (is_string_type(table->options[i].type))
            *str_field(fields, &table->options[i]) = NULL;
    }
    cfg->tables[cfg->ntables++] = (wxs__config_table){.table = table, .fields = fields};
    return set_defaults(table, fields);
}

wxs_config *wxs_config_new(void)
{
    wxs_config *cfg = wxs__calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    if (wxs_config_register(cfg, &wxs__config_library_table, cfg) < 0) {
        wxs_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void wxs_config_free(wxs_config *cfg)
{
    if (cfg == NULL)
        return;
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (is_string_type(r.o->type)) {
            free_value(r.o, *str_field(r.fields, r.o));
            *str_field(r.fields, r.o) = NULL;
        }
    }
    wxs__free(cfg);
}

/* ------------------------------------------------------------------ all or nothing */

/* A copy of every option's value, so that a load that fails half-way leaves cfg as it was. */
typedef union saved_value {
    long long i;
    char *s;
} saved_value;

typedef struct snapshot {
    saved_value *values;
    size_t n;
} snapshot;

static size_t option_count(const wxs_config *cfg)
{
    size_t n = 0;
    for (size_t t = 0; t < cfg->ntables; t++)
        n += cfg->tables[t].table->count;
    return n;
}

/* Drop a snapshot (after a load succeeded, or once restored: values already moved are NULL). */
static void snapshot_drop(const wxs_config *cfg, snapshot *sn)
{
    option_ref r;
    for (size_t i = 0; i < sn->n && wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (is_string_type(r.o->type))
            free_value(r.o, sn->values[i].s);
    }
    wxs__free(sn->values);
    sn->values = NULL;
}

/* Copy every value of cfg into sn: 0 or WXS_ENOMEM. */
static int snapshot_take(const wxs_config *cfg, snapshot *sn)
{
    sn->n = option_count(cfg);
    sn->values = wxs__calloc(sn->n ? sn->n : 1, sizeof *sn->values);
    if (sn->values == NULL)
        return WXS_ENOMEM;
    option_ref r;
    for (size_t i = 0; i < sn->n && wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (!is_string_type(r.o->type)) {
            sn->values[i].i = *int_field(r.fields, r.o);
            continue;
        }
        sn->values[i].s = wxs__strdup(*str_field(r.fields, r.o));
        if (sn->values[i].s == NULL) {
            snapshot_drop(cfg, sn);
            return WXS_ENOMEM;
        }
    }
    return 0;
}

/* Put every value of sn back into cfg and drop sn. */
static void snapshot_restore(wxs_config *cfg, snapshot *sn)
{
    option_ref r;
    for (size_t i = 0; i < sn->n && wxs__config_option_at(cfg, i, &r) == 0; i++) {
        if (!is_string_type(r.o->type)) {
            *int_field(r.fields, r.o) = sn->values[i].i;
            continue;
        }
        free_value(r.o, *str_field(r.fields, r.o));
        *str_field(r.fields, r.o) = sn->values[i].s;
        sn->values[i].s = NULL;
    }
    snapshot_drop(cfg, sn);
}

/* ------------------------------------------------------------------ config file */

/* Apply every member of obj, whose dotted path is prefix ("" at the top). */
static int load_object(wxs_config *cfg, const json_t *obj, const char *prefix, char *err,
                       size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        char path[NAME_MAX_LEN + 1];
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        int fits = n >= 0 && (size_t)n < sizeof path;
        option_ref r;
        int found = fits && find_option(cfg, path, &r) && is_key_of(r.o, path);
        int rc; /* (flag names are not file keys) */
        if (found)
            rc = set_json(r.fields, r.o, value, err, errlen);
        else if (fits && is_group(cfg, path) && json_is_object(value))
            rc = load_object(cfg, value, path, err, errlen);
        else if (fits && is_group(cfg, path))
            rc = fail(err, errlen, WXS_ECONFIG, "option '%s': expected an object, got %s", path,
                      json_type_name(value));
        else
            rc = fail(err, errlen, WXS_ECONFIG, "unknown option '%s%s%.64s'", prefix,
                      *prefix ? "." : "", key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Initialise b and read at most max bytes of path into it: 0, WXS_EIO, WXS_ENOMEM or WXS_ETOOBIG
 * (reason in err). The caller frees b in every case. */
static int read_file(const char *path, wxs__buf *b, size_t max, char *err, size_t errlen)
{
    int rc = 0;
    wxs__buf_init(b, max);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(err, errlen, WXS_EIO, "%s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    do {
        n = fread(chunk, 1, sizeof chunk, f);
        rc = wxs__buf_add(b, chunk, n);
    } while (rc == 0 && n == sizeof chunk);
    explicit_bzero(chunk, sizeof chunk);
    if (rc == WXS_ETOOBIG)
        rc = fail(err, errlen, WXS_ETOOBIG, "%s: larger than %zu bytes", path, max);
    else if (rc < 0)
        rc = fail(err, errlen, rc, "out of memory");
    else if (ferror(f))
        rc = fail(err, errlen, WXS_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

/* Wipe and free a buffer that may hold secrets. */
static void buf_wipe(wxs__buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    wxs__buf_free(b);
}

/* Jansson's reason without the parts that may quote a secret: its " near '<token>'" tail and
 * the escapes of "invalid Unicode '\uD800\u0041'". */
static void json_reason(const json_error_t *jerr, char *out, size_t outlen)
{
    if (strncmp(jerr->text, "invalid Unicode", 15) == 0) {
        snprintf(out, outlen, "invalid Unicode escape");
        return;
    }
    snprintf(out, outlen, "%s", jerr->text);
    char *near = strstr(out, " near ");
    if (near != NULL)
        *near = '\0';
}

int wxs_config_load_file(wxs_config *cfg, const char *path, char *err, size_t errlen)
{
    int rc = 0;
    wxs__buf text;

    if (cfg == NULL || path == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    rc = read_file(path, &text, CONFIG_FILE_MAX, err, errlen);
    if (rc == WXS_ETOOBIG)
        rc = WXS_ECONFIG; /* the reason says "larger than" */
    if (rc == 0)
        rc = wxs__config_load_buffer(cfg, text.data ? text.data : "", text.len, path, err, errlen);
    buf_wipe(&text);
    return rc;
}

/* ------------------------------------------------------------------ environment */

/* Set secret o from the file named by <env>_FILE: at most SECRET_FILE_MAX bytes, trailing
 * newlines ("\n" or "\r\n") removed. */
static int set_from_file(void *fields, const wxs_option *o, const char *file_env, const char *path,
                         char *err, size_t errlen)
{
    wxs__buf text;
    char why[256];
    int rc = read_file(path, &text, SECRET_FILE_MAX, why, sizeof why);
    if (rc < 0) {
        rc = fail(err, errlen, rc == WXS_ENOMEM ? rc : WXS_ECONFIG, "%s: %s", file_env, why);
        goto out;
    }
    size_t len = text.len;
    while (len > 0 && (text.data[len - 1] == '\n' || text.data[len - 1] == '\r'))
        len--;
    rc = set_string(fields, o, len ? text.data : "", len, err, errlen);
out:
    buf_wipe(&text);
    return rc;
}

/* The environment variable of an alias: WXS_ and the key in upper snake case ("redis.ttl":
 * WXS_REDIS_TTL, "a.fooBar": WXS_A_FOO_BAR). */
void wxs__config_alias_env(const char *alias, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "WXS_");
    for (const char *p = alias; *p != '\0' && n + 2 < outlen; p++) {
        if (*p >= 'A' && *p <= 'Z')
            out[n++] = '_';
        out[n++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    }
    out[n] = '\0';
}

/* Apply o's environment variable (and <env>_FILE for secrets; the alias's variable too) when
 * set. */
static int load_env_option(void *fields, const wxs_option *o, char *err, size_t errlen)
{
    char why[256];
    char old_env[NAME_MAX_LEN + 8];
    int rc = 0;
    const char *name = o->env;
    const char *text = getenv(o->env);
    if (text == NULL && o->alias != NULL) {
        wxs__config_alias_env(o->alias, old_env, sizeof old_env);
        name = old_env;
        text = getenv(old_env);
    }
    if (o->type == WXS_OPT_SECRET) {
        char file_env[NAME_MAX_LEN + 8];
        snprintf(file_env, sizeof file_env, "%s_FILE", o->env);
        const char *path = getenv(file_env);
        if (path != NULL && text != NULL)
            return fail(err, errlen, WXS_ECONFIG, "both %s and %s are set; use one", o->env,
                        file_env);
        if (path != NULL)
            return set_from_file(fields, o, file_env, path, err, errlen);
    }
    if (text == NULL)
        return 0;
    rc = set_text(fields, o, text, why, sizeof why);
    if (rc < 0)
        return fail(err, errlen, rc, "%s: %s", name, why);
    return 0;
}

int wxs_config_load_env(wxs_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    snapshot sn;
    if (cfg == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    if (snapshot_take(cfg, &sn) < 0)
        return fail(err, errlen, WXS_ENOMEM, "out of memory");
    option_ref r;
    for (size_t i = 0; rc == 0 && wxs__config_option_at(cfg, i, &r) == 0; i++)
        rc = load_env_option(r.fields, r.o, err, errlen);
    if (rc < 0)
        snapshot_restore(cfg, &sn);
    else
        snapshot_drop(cfg, &sn);
    return rc;
}

/* ------------------------------------------------------------------ set, get, validate */

int wxs_config_set(wxs_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    option_ref r;
    if (cfg == NULL || name == NULL || value == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    if (!find_option(cfg, name, &r)) /* wxs_config_suggest names the nearest */
        return fail(err, errlen, WXS_ECONFIG, "unknown option '%.64s'", name);
    return set_text(r.fields, r.o, value, err, errlen);
}

/* Re-check o's current value against its type's rules (the table's defaults included). */
static int check_current(const option_ref *r, char *err, size_t errlen)
{
    if (is_string_type(r->o->type)) {
        const char *s = *str_field(r->fields, r->o);
        return check_string(r->o, s, strlen(s), err, errlen);
    }
    return check_int(r->o, *int_field(r->fields, r->o), err, errlen);
}

int wxs_config_validate(const wxs_config *cfg, char *err, size_t errlen)
{
    if (cfg == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        int rc = check_current(&r, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (size_t t = 0; t < cfg->ntables; t++) {
        const wxs__config_table *ct = &cfg->tables[t];
        int rc =
            ct->table->validate != NULL ? ct->table->validate(ct->fields, cfg, err, errlen) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int wxs_config_has(const wxs_config *cfg, const char *name)
{
    option_ref r;
    return cfg != NULL && name != NULL && find_option(cfg, name, &r);
}

const char *wxs_config_get_str(const wxs_config *cfg, const char *name)
{
    option_ref r;
    if (cfg == NULL || name == NULL || !find_option(cfg, name, &r) || !is_string_type(r.o->type))
        return NULL;
    return *str_field(r.fields, r.o);
}

long long wxs_config_get_int(const wxs_config *cfg, const char *name)
{
    option_ref r;
    if (cfg == NULL || name == NULL || !find_option(cfg, name, &r) || is_string_type(r.o->type))
        return 0;
    return *int_field(r.fields, r.o);
}

/* ------------------------------------------------------------------ config text */

/* Merge the JSON config text[0..len) into cfg, all or nothing; name stands for the text in
 * reasons (the file's path). Returns 0, WXS_ECONFIG (text over 1 MiB, not JSON, not an object,
 * a bad option), WXS_ENOMEM or WXS_EINVAL, with a one-line reason in err that never quotes a
 * secret's value. */
/* Blank the comment lines of text (len bytes) in place: a line whose first characters other
 * than spaces and tabs are "//" or "#" becomes spaces up to its newline, so the JSON parser sees
 * whitespace there and the line numbers of its errors stay those of the file. A JSON string
 * cannot hold a raw newline, so a line never starts inside one. */
static void blank_comment_lines(char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        int comment =
            i < len && (text[i] == '#' || (text[i] == '/' && i + 1 < len && text[i + 1] == '/'));
        for (; i < len && text[i] != '\n'; i++) {
            if (comment)
                text[i] = ' ';
        }
        i++; /* past the newline */
    }
}

int wxs__config_load_buffer(wxs_config *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errlen)
{
    int rc = 0;
    json_t *root = NULL;
    snapshot sn = {NULL, 0};
    json_error_t jerr;
    char why[256];
    char *json = NULL; /* text with its comment lines blanked; may hold secrets: wiped */

    if (cfg == NULL || text == NULL || name == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    if (len > CONFIG_FILE_MAX)
        return fail(err, errlen, WXS_ECONFIG, "%s: larger than %d bytes", name, CONFIG_FILE_MAX);
    json = wxs__malloc(len + 1);
    if (json == NULL) {
        rc = fail(err, errlen, WXS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(json, text, len);
    blank_comment_lines(json, len);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory) {
        rc = fail(err, errlen, WXS_ENOMEM, "out of memory");
        goto out;
    }
    if (root == NULL) {
        json_reason(&jerr, why, sizeof why);
        rc = fail(err, errlen, WXS_ECONFIG, "%s: line %d, column %d: %s", name, jerr.line,
                  jerr.column, why);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = fail(err, errlen, WXS_ECONFIG, "%s: the top level must be a JSON object", name);
        goto out;
    }
    if (snapshot_take(cfg, &sn) < 0) {
        rc = fail(err, errlen, WXS_ENOMEM, "out of memory");
        goto out;
    }
    rc = load_object(cfg, root, "", why, sizeof why);
    if (rc < 0) {
        rc = fail(err, errlen, rc, "%s: %s", name, why);
        snapshot_restore(cfg, &sn);
    }
out:
    if (sn.values != NULL)
        snapshot_drop(cfg, &sn);
    json_decref(root);
    if (json != NULL)
        explicit_bzero(json, len);
    wxs__free(json);
    return rc;
}

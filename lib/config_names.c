/* config_names.c: help with option names: the registered option nearest to a misspelt name, and
 * the WXS_* environment variables that no registered option reads. */
#include "config_impl.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

#define NAME_CMP_MAX 64 /* longer names are never "near" anything */

/* Levenshtein distance between a and b (both at most NAME_CMP_MAX bytes; longer: a large
 * number), with one row of memory. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[NAME_CMP_MAX + 1];
    if (la > NAME_CMP_MAX || lb > NAME_CMP_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The string of o to compare with: its flag, its env var or its name. */
typedef const char *(*name_of_fn)(const wxs_option *o);

static const char *flag_of(const wxs_option *o)
{
    return o->flag;
}

static const char *env_of(const wxs_option *o)
{
    return o->env;
}

/* The option whose name_of() is nearest to name, when it is near enough to be a likely typo (at
 * most a third of the name's length, at least 2, edits away); else NULL. */
static const wxs_option *nearest(const wxs_config *cfg, const char *name, name_of_fn name_of)
{
    const wxs_option *best = NULL;
    size_t best_d = (size_t)-1;
    size_t allowed = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
    option_ref r;
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        size_t d = distance(name, name_of(r.o));
        if (d < best_d) {
            best_d = d;
            best = r.o;
        }
    }
    return best_d <= allowed ? best : NULL;
}

const char *wxs_config_suggest(const wxs_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    const wxs_option *o = nearest(cfg, name, flag_of);
    return o != NULL ? o->flag : NULL;
}

/* 1 when the variable var (NAME=value) is read by a registered option: its env var, that
 * name + "_FILE" for a secret, or the variable of its alias. */
static int env_is_known(const wxs_config *cfg, const char *var, size_t len)
{
    option_ref r;
    char alias[96];
    for (size_t i = 0; wxs__config_option_at(cfg, i, &r) == 0; i++) {
        size_t n = strlen(r.o->env);
        if (len == n && memcmp(var, r.o->env, n) == 0)
            return 1;
        if (r.o->type == WXS_OPT_SECRET && len == n + 5 && memcmp(var, r.o->env, n) == 0 &&
            memcmp(var + n, "_FILE", 5) == 0)
            return 1;
        if (r.o->alias != NULL) {
            wxs__config_alias_env(r.o->alias, alias, sizeof alias);
            if (len == strlen(alias) && memcmp(var, alias, len) == 0)
                return 1;
        }
    }
    return 0;
}

size_t wxs_config_unknown_env(const wxs_config *cfg, char *out, size_t outlen)
{
    size_t count = 0, used = 0;
    if (out != NULL && outlen > 0)
        out[0] = '\0';
    for (char **e = environ; cfg != NULL && e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
        if (len <= 4 || strncmp(*e, "WXS_", 4) != 0 || env_is_known(cfg, *e, len))
            continue;
        count++;
        if (out == NULL || used >= outlen)
            continue;
        char name[NAME_CMP_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)len, *e);
        const wxs_option *o = nearest(cfg, name, env_of);
        int n = snprintf(out + used, outlen - used, "%s%s%s%s%s", used ? ", " : "", name,
                         o != NULL ? " (did you mean " : "", o != NULL ? o->env : "",
                         o != NULL ? "?)" : "");
        used = n < 0 || (size_t)n >= outlen - used ? outlen : used + (size_t)n;
    }
    return count;
}

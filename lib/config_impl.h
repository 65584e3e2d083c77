/* config_impl.h: what the two halves of the configuration share, private to them:
 * lib/config.c keeps the registered option tables and applies them (defaults, the JSON config
 * file, environment, flags, validation); lib/config_print.c prints them (dump, --help,
 * docs/config.md). */
#ifndef WXS_CONFIG_IMPL_H
#define WXS_CONFIG_IMPL_H

#include "internal.h"

#define STRING_MAX 4096 /* any string option's value, in bytes */

/* One option of a registered table, with the struct its field lives in. */
typedef struct option_ref {
    const wxs_option *o;
    void *fields;
} option_ref;

/* The field of fields that o fills: int_field for int and bool options, str_field for the
 * rest. */
static inline long long *int_field(void *fields, const wxs_option *o)
{
    return (long long *)((char *)fields + o->offset);
}

static inline char **str_field(void *fields, const wxs_option *o)
{
    return (char **)((char *)fields + o->offset);
}

static inline int is_string_type(wxs_option_type t)
{
    return t == WXS_OPT_STRING || t == WXS_OPT_ENUM || t == WXS_OPT_SECRET;
}

/** The environment variable of an alias: WXS_ and the key in upper snake case ("redis.ttl":
 *  WXS_REDIS_TTL). (lib/config.c) */
void wxs__config_alias_env(const char *alias, char *out, size_t outlen);

/** The library's own table (lib/config_table.c), registered by wxs_config_new. */
extern const wxs_option_table wxs__config_library_table;

/** The i-th option over every registered table, in registration and table order: 0, or -1 past
 *  the last. (lib/config.c) */
int wxs__config_option_at(const wxs_config *cfg, size_t i, option_ref *out);

#endif

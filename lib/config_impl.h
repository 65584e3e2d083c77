/* config_impl.h: what the two halves of the configuration share, private to them:
 * lib/config.c holds the option table and applies it (defaults, the JSON config file, environment,
 * flags, validation); lib/config_print.c prints it (dump, --help, docs/config.md). */
#ifndef WXS_CONFIG_IMPL_H
#define WXS_CONFIG_IMPL_H

#include "internal.h"

#define STRING_MAX 4096 /* any string option's value, in bytes */

typedef enum { T_INT, T_BOOL, T_STRING, T_ENUM, T_SECRET } opt_type;

/* A format check for a string option: 0, or -1 with a reason (never quoting the value). */
typedef int (*check_fn)(const char *value, char *why, size_t whylen);

typedef struct config_option {
    const char *name; /* config file key, dotted for nested objects */
    const char *flag; /* command-line flag without the leading "--" */
    const char *env;  /* environment variable; secrets also read <env>_FILE */
    opt_type type;
    size_t offset; /* of the field in struct wxs_config: long long (int, bool) or char * */
    long long def_int;
    long long min, max;
    const char *def_str;
    const char *const *choices; /* enum: NULL-terminated */
    check_fn check;             /* strings: optional format check */
    const char *help;
} config_option;

/* The option table (lib/config.c, static storage) and its length, in table order. */
extern const config_option *const wxs__config_options;
extern const size_t wxs__config_option_count;

/* The field of cfg that o fills: int_field for int and bool options, str_field for the rest. */
static inline long long *int_field(const wxs_config *cfg, const config_option *o)
{
    return (long long *)((char *)cfg + o->offset);
}

static inline char **str_field(const wxs_config *cfg, const config_option *o)
{
    return (char **)((char *)cfg + o->offset);
}

#endif

/* driver_config.c: libFuzzer driver for the config file parser (wxs__config_load_buffer, what
 * wxs_config_load_file runs on the file's text) and for wxs_config_set. Checks: a failed load
 * changes nothing, a successful one dumps and loads back to the same config, and no reason ever
 * quotes a secret's value (seeds plant secrets spelled "SEKRET..."). */
#include "fuzz.h"

#include "internal.h"
#include "options.h"
#include "server_options.h"

#include <jansson.h>
#include <string.h>

#define MARK "SEKRET"
#define NAME "fuzz.json"

/* The secret options, by their dotted file keys or their flags. */
static int is_secret_key(const char *path)
{
    static const char *const secrets[] = {"appSecret",      "redis.password", "mongo.password",
                                          "mongo.uri",      "app-secret",     "redis-password",
                                          "mongo-password", "mongo-uri"};

    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strcmp(path, secrets[i]) == 0)
            return 1;
    }
    return 0;
}

/* 1 when MARK occurs somewhere other than inside a secret option's string value: in a key, or
 * in any other value. Then a reason may legitimately quote it. */
static int mark_outside_secrets(json_t *v, const char *path)
{
    const char *key;
    json_t *member;
    size_t i;

    if (json_is_string(v))
        return !is_secret_key(path) && strstr(json_string_value(v), MARK) != NULL;
    if (json_is_array(v)) {
        json_array_foreach(v, i, member)
        {
            if (mark_outside_secrets(member, "[]"))
                return 1;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    json_object_foreach(v, key, member)
    {
        char sub[256];
        if (strstr(key, MARK) != NULL)
            return 1;
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
        if (mark_outside_secrets(member, sub))
            return 1;
    }
    return 0;
}

/* Where the server's and the One Stroke app's tables put their values: a config here has the three
 * tables wxsessiond registers, so that every key of a real config file is known. */
typedef struct all_options {
    server_options server;
    struct onestroke_options onestroke;
} all_options;

static wxs_config *config_new_in(all_options *a)
{
    wxs_config *cfg = wxs_config_new();
    FUZZ_CHECK(cfg != NULL, "out of memory");
    FUZZ_CHECK(wxs_config_register(cfg, &server_option_table, &a->server) == 0 &&
                   wxs_config_register(cfg, &onestroke_option_table, &a->onestroke) == 0,
               "cannot register the tables");
    return cfg;
}

/* The config as its dump text (secrets shown as "***"); free() it. */
static char *dump_of(const wxs_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    FUZZ_CHECK(f != NULL, "open_memstream");
    FUZZ_CHECK(wxs_config_dump(cfg, f) == 0, "dump failed");
    fclose(f);
    return text;
}

/* The dump of a new config (every default), made once. */
static const char *defaults_dump(void)
{
    static char *text;

    if (text == NULL) {
        static all_options a;
        wxs_config *cfg = config_new_in(&a);
        text = dump_of(cfg); /* kept for the process */
        wxs_config_free(cfg);
    }
    return text;
}

/* A reason: one line of printable text (it goes to a terminal or a log). */
static void check_reason(const char *err, int rc)
{
    FUZZ_CHECK(err[0] != '\0', "rc %d without a reason", rc);
    for (const char *p = err; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in '%s'",
                   (unsigned char)*p, err);
}

/* The file: on failure nothing changes and no secret leaks; on success the dump loads back. */

/* The text as JSON once its comment lines are blanked (a line whose first characters other
 * than spaces and tabs are "//" or "#": the config file's one extension), written here from
 * that rule; NULL when it is not JSON then. */
static json_t *json_without_comments(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    json_t *root;
    size_t i = 0;
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, text, len);
    while (i < len) {
        size_t start = i, k = i;
        while (k < len && (copy[k] == ' ' || copy[k] == '\t'))
            k++;
        int comment =
            (k < len && copy[k] == '#') || (k + 1 < len && copy[k] == '/' && copy[k + 1] == '/');
        while (i < len && copy[i] != '\n')
            i++;
        if (comment)
            memset(copy + start, ' ', i - start);
        i++;
    }
    root = json_loadb(copy, len, 0, NULL);
    free(copy);
    return root;
}

static void check_file(const char *text, size_t len)
{
    static all_options a, b;
    wxs_config *cfg = config_new_in(&a);
    char err[512] = "";
    const char *before = defaults_dump();
    char *after;
    int rc;

    FUZZ_CHECK(cfg != NULL, "out of memory");
    rc = wxs__config_load_buffer(cfg, text, len, NAME, err, sizeof err);
    after = dump_of(cfg);
    if (rc < 0) {
        json_t *root = json_without_comments(text, len);
        FUZZ_CHECK(rc == WXS_ECONFIG, "rc %d: %s", rc, err);
        check_reason(err, rc);
        FUZZ_CHECK(strncmp(err, NAME ": ", strlen(NAME) + 2) == 0, "reason '%s' lacks the name",
                   err);
        FUZZ_CHECK(strcmp(before, after) == 0, "a failed load changed the config");
        if (root == NULL || !mark_outside_secrets(root, ""))
            FUZZ_CHECK(strstr(err, MARK) == NULL, "a reason quotes a secret: %s", err);
        json_decref(root);
    } else {
        wxs_config *again = config_new_in(&b);
        json_t *root = json_without_comments(text, len);
        char *third;
        FUZZ_CHECK(rc == 0 && again != NULL && root != NULL, "rc %d", rc);
        if (!mark_outside_secrets(root, ""))
            FUZZ_CHECK(strstr(after, MARK) == NULL, "the dump shows a secret");
        json_decref(root);
        rc = wxs__config_load_buffer(again, after, strlen(after), "dump", err, sizeof err);
        FUZZ_CHECK(rc == 0, "the dump of a loaded config does not load: %s", err);
        third = dump_of(again);
        FUZZ_CHECK(strcmp(after, third) == 0, "dump, load, dump differs:\n%s\n%s", after, third);
        free(third);
        wxs_config_free(again);
    }
    free(after);
    wxs_config_free(cfg);
}

/* wxs_config_set(name, value) with name and value split at the first '=' (or NUL). */
static void check_set(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    char *eq;
    static all_options a;
    wxs_config *cfg = config_new_in(&a);
    char err[512] = "";
    const char *before = defaults_dump();
    char *after;
    int rc;

    FUZZ_CHECK(copy != NULL && cfg != NULL, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    eq = strchr(copy, '=');
    if (eq == NULL)
        eq = copy + strlen(copy); /* name only: the value is what follows the NUL, or "" */
    else
        *eq = '\0';
    rc = wxs_config_set(cfg, copy, eq < copy + len ? eq + 1 : "", err, sizeof err);
    after = dump_of(cfg);
    if (rc < 0) {
        FUZZ_CHECK(rc == WXS_ECONFIG, "rc %d: %s", rc, err);
        check_reason(err, rc);
        FUZZ_CHECK(strcmp(before, after) == 0, "a failed set changed the config");
        if (is_secret_key(copy))
            FUZZ_CHECK(strstr(err, MARK) == NULL, "a reason quotes a secret: %s", err);
    } else {
        FUZZ_CHECK(wxs_config_validate(cfg, err, sizeof err) == 0 ||
                       strstr(err, "required") != NULL || strstr(err, "must not exceed") != NULL,
                   "a value that set passes fails validation: %s", err);
    }
    free(after);
    free(copy);
    wxs_config_free(cfg);
}

/* Byte 0: 's' runs wxs_config_set on the rest; anything else loads the whole input as a file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 's')
        check_set((const char *)data + 1, size - 1);
    else
        check_file((const char *)data, size);
    return 0;
}

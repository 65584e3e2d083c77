/* test_config_comments.c: unit tests of the config file's comment lines (lib/config.c) and of
 * what is printed from the option tables for the package (lib/config_print.c): the commented
 * sample config file, which must load as it is and with any commented key uncommented, and the
 * options section of the man pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "options.h"
#include "server_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library's, the server's and the app's tables, as wxsessiond registers them. */
typedef struct all_tables {
    wxs_config *cfg;
    server_options server;
    struct onestroke_options onestroke;
} all_tables;

static int setup(void **state)
{
    all_tables *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->cfg = wxs_config_new();
    assert_non_null(t->cfg);
    assert_int_equal(wxs_config_register(t->cfg, &server_option_table, &t->server), 0);
    assert_int_equal(wxs_config_register(t->cfg, &onestroke_option_table, &t->onestroke), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    all_tables *t = *state;
    wxs_config_free(t->cfg);
    free(t);
    return 0;
}

/* load text as a config file: the return code, the reason in err */
static int load(wxs_config *cfg, const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return wxs__config_load_buffer(cfg, text, strlen(text), "test.json", err, errlen);
}

/* What a printer writes, as a malloc'ed string. */
typedef struct capture {
    char *text;
    size_t len;
    FILE *f;
} capture;

static void capture_start(capture *c)
{
    c->text = NULL;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static char *capture_end(capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    return c->text;
}

/* ------------------------------------------------------------------ comment lines */

static void test_comment_lines_are_ignored(void **state)
{
    all_tables *t = *state;
    char err[256];
    static const char text[] = "// a comment\n"
                               "# another\n"
                               "{\n"
                               "    // \"port\": 1,\n"
                               "\t# \"port\": 2,\n"
                               "    \"port\": 8080, \n"
                               "  //\n"
                               "    \"redis\": { \"host\": \"10.0.0.1\" }\n"
                               "}\n"
                               "// the end, without a newline";
    assert_int_equal(load(t->cfg, text, err, sizeof err), 0);
    assert_int_equal(wxs_config_get_int(t->cfg, "port"), 8080);
    assert_string_equal(wxs_config_get_str(t->cfg, "redis.host"), "10.0.0.1");
}

static void test_comment_lines_keep_error_line_numbers(void **state)
{
    all_tables *t = *state;
    char err[256];
    assert_int_equal(load(t->cfg, "// one\n// two\n{\n  \"port\": ,\n}\n", err, sizeof err),
                     WXS_ECONFIG);
    assert_non_null(strstr(err, "test.json: line 4,"));
}

/* Whole lines only: a comment after a value, or "/" alone, is not one. */
static void test_comment_after_a_value_is_an_error(void **state)
{
    all_tables *t = *state;
    char err[256];
    assert_int_equal(load(t->cfg, "{\n  \"port\": 8080 // the port\n}\n", err, sizeof err),
                     WXS_ECONFIG);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(load(t->cfg, "{\n / \"port\": 1\n}\n", err, sizeof err), WXS_ECONFIG);
    assert_int_equal(wxs_config_get_int(t->cfg, "port"), 5757); /* nothing applied */
}

/* A "//" inside a string value is data, not a comment. */
static void test_slashes_inside_a_value_are_data(void **state)
{
    all_tables *t = *state;
    char err[256];
    assert_int_equal(
        load(t->cfg, "{\"wechat\": {\"apiBase\": \"http://127.0.0.1:9\"}}\n", err, sizeof err), 0);
    assert_string_equal(wxs_config_get_str(t->cfg, "wechat.apiBase"), "http://127.0.0.1:9");
}

/* ------------------------------------------------------------------ the sample config file */

static const char *const active[] = {"port",       "routeBasePath",  "appId", "appSecret",
                                     "redis.host", "mongo.database", NULL};

static char *sample_text(wxs_config *cfg)
{
    capture c;
    capture_start(&c);
    assert_int_equal(wxs_config_print_sample(cfg, active, c.f), 0);
    return capture_end(&c);
}

/* 1 when line (up to its newline) is a commented key: spaces, "// \"". */
static int is_commented_key(const char *line)
{
    while (*line == ' ')
        line++;
    return strncmp(line, "// \"", 4) == 0;
}

/* A fresh config (all three tables) loading text: 0 or the error. */
static int load_fresh(const char *text, char *err, size_t errlen)
{
    all_tables *t = NULL;
    setup((void **)&t);
    int rc = load(t->cfg, text, err, errlen);
    teardown((void **)&t);
    return rc;
}

/* The number of times needle occurs in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_sample_loads_and_names_every_option(void **state)
{
    all_tables *t = *state;
    char err[256];
    char *text = sample_text(t->cfg);
    assert_int_equal(load_fresh(text, err, sizeof err), 0);
    /* every option of --help ("... env WXS_X)" or "env WXS_X or WXS_X_FILE)") is in it, once */
    capture c;
    capture_start(&c);
    wxs_config_print_help(t->cfg, c.f);
    char *help = capture_end(&c);
    int options = 0;
    for (const char *p = strstr(help, "; env "); p != NULL; p = strstr(p + 1, "; env ")) {
        char env[96];
        snprintf(env, sizeof env, "env %.*s", (int)strcspn(p + 6, " )"), p + 6);
        if (count(text, env) != 1)
            fail_msg("%s: not once in the sample", env);
        options++;
    }
    assert_true(options > 40);
    assert_int_equal(count(text, "// default "), options);
    assert_non_null(strstr(text, "\n    \"appId\": \"\",\n"));
    assert_non_null(strstr(text, "\n    // \"listen\": \"127.0.0.1\",\n"));
    assert_non_null(strstr(text, "\n        \"host\": \"127.0.0.1\""));
    free(help);
    free(text);
}

/* Removing the "// " of any one commented key leaves JSON that loads; so does removing all. */
static void test_sample_any_key_uncommented_still_loads(void **state)
{
    all_tables *t = *state;
    char err[256];
    char *text = sample_text(t->cfg);
    size_t len = strlen(text);
    char *all = strdup(text);
    char *edit = malloc(len + 1);
    int keys = 0;
    assert_non_null(all);
    assert_non_null(edit);
    for (char *line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
        if (!is_commented_key(line))
            continue;
        size_t at = (size_t)(strstr(line, "// ") - text);
        memcpy(edit, text, at);
        memcpy(edit + at, text + at + 3, len - at - 3 + 1);
        if (load_fresh(edit, err, sizeof err) != 0)
            fail_msg("uncommenting line %.60s: %s", line, err);
        memset(all + at, ' ', 2); /* "//" blanked: the key line is active */
        keys++;
    }
    assert_true(keys > 20);
    assert_int_equal(load_fresh(all, err, sizeof err), 0);
    free(edit);
    free(all);
    free(text);
}

/* Secrets are written "" whatever their value. */
static void test_sample_never_shows_a_secret(void **state)
{
    all_tables *t = *state;
    char err[256];
    assert_int_equal(wxs_config_set(t->cfg, "appSecret", "SEKRET-app", err, sizeof err), 0);
    assert_int_equal(wxs_config_set(t->cfg, "mongo.password", "SEKRET-mongo", err, sizeof err), 0);
    char *text = sample_text(t->cfg);
    assert_null(strstr(text, "SEKRET"));
    assert_non_null(strstr(text, "\"appSecret\": \"\""));
    free(text);
}

/* An active key takes cfg's value; a commented one shows the default. */
static void test_sample_active_keys_have_the_configs_values(void **state)
{
    all_tables *t = *state;
    char err[256];
    assert_int_equal(wxs_config_set(t->cfg, "port", "8080", err, sizeof err), 0);
    assert_int_equal(wxs_config_set(t->cfg, "workers", "3", err, sizeof err), 0);
    char *text = sample_text(t->cfg);
    assert_non_null(strstr(text, "\"port\": 8080"));
    assert_non_null(strstr(text, "// \"workers\": 0,"));
    free(text);
}

/* ------------------------------------------------------------------ man page options */

static void test_man_lists_every_option_in_roff(void **state)
{
    all_tables *t = *state;
    capture c;
    capture_start(&c);
    wxs_config_print_man(t->cfg, c.f);
    char *text = capture_end(&c);
    assert_non_null(strstr(text, ".SS \"Session layer (libwxsession)\"\n"));
    assert_non_null(strstr(text, ".TP\n\\fB\\-\\-redis\\-port\\fR=\\fIN\\fR\n"));
    assert_non_null(strstr(text, "environment \\fBWXS_APP_SECRET\\fR or "
                                 "\\fBWXS_APP_SECRET_FILE\\fR"));
    assert_non_null(strstr(text, "\\fBactions\\fR")); /* `actions` in bold */
    /* roff: no line starts with a '.' that is not a request, no raw hyphen in a flag */
    for (const char *line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
        if (*line == '.')
            assert_true(strncmp(line, ".SS ", 4) == 0 || strncmp(line, ".TP\n", 4) == 0);
    }
    assert_null(strstr(text, "--"));
    free(text);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_comment_lines_are_ignored),
        T(test_comment_lines_keep_error_line_numbers),
        T(test_comment_after_a_value_is_an_error),
        T(test_slashes_inside_a_value_are_data),
        T(test_sample_loads_and_names_every_option),
        T(test_sample_any_key_uncommented_still_loads),
        T(test_sample_never_shows_a_secret),
        T(test_sample_active_keys_have_the_configs_values),
        T(test_man_lists_every_option_in_roff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

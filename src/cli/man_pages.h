/* man_pages.h: the man pages wxsessiond(8) and wxsession(1), written in roff by
 * `wxsession config-docs` from the option tables and the CLI's command list. */
#ifndef WXS_CLI_MAN_PAGES_H
#define WXS_CLI_MAN_PAGES_H

#include <wxsession.h>

#include <stddef.h>
#include <stdio.h>

/* One command: its synopsis and what it does, for `wxsession --help`, `wxsession CMD --help`
 * and wxsession(1). */
typedef struct command_help {
    const char *name;
    const char *synopsis;
    const char *text;
} command_help;

/* Write wxsessiond(8) to out: the modes, every option of cfg's tables, the environment, the
 * files of the package, the signals and the exit status. */
void man_page_wxsessiond(const wxs_config *cfg, FILE *out);

/* Write wxsession(1) to out: the n commands, the options check-config takes (cfg's tables) and
 * the exit status. */
void man_page_wxsession(const wxs_config *cfg, const command_help *commands, size_t n, FILE *out);

#endif /* WXS_CLI_MAN_PAGES_H */

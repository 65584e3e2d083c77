/* settings.h: wxsessiond's configuration, read from its command line, config file and environment
 * into the library's, the server's and the One Stroke app's option tables; read again, whole, on
 * SIGHUP. */
#ifndef WXS_SERVER_SETTINGS_H
#define WXS_SERVER_SETTINGS_H

#include "options.h"
#include "server_options.h"

typedef struct settings {
    wxs_config *cfg;
    server_options server;
    struct onestroke_options onestroke;
    int sim_only; /* --simulator-only */
} settings;

/* What settings_read decided. */
enum { SETTINGS_RUN = 0, SETTINGS_EXIT = 1 };

/** Read argv (wxsessiond's own, argv[0] included) into s: modes and --config first, then
 *  defaults < config file < environment < flags, then validation. s must not move afterwards
 *  (the tables point into it). Returns SETTINGS_RUN, SETTINGS_EXIT (--help, --version or
 *  --check-config printed their answer on stdout) or a negative WXS_E* code with a one-line
 *  reason in err (s is then freed). */
int settings_read(settings *s, int argc, char **argv, char *err, size_t errlen);

/** Free what settings_read set. NULL-safe for a zeroed s. */
void settings_free(settings *s);

/** Parse a log.level value ("debug", "info", "warn", "error"). */
wxs_log_level settings_log_level(const char *level);

#endif /* WXS_SERVER_SETTINGS_H */

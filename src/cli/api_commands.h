/* api_commands.h: the commands that call WeChat through the library with wxsessiond's
 * configuration (api_commands.c): access-token and check-session-key. */
#ifndef WXS_CLI_API_COMMANDS_H
#define WXS_CLI_API_COMMANDS_H

#define API_ACCESS_TOKEN_SYNOPSIS                                                                  \
    "access-token [--invalid TOKEN] [--config FILE] [--OPTION=VALUE ...]"
#define API_ACCESS_TOKEN_TEXT                                                                      \
    "print the app's access_token as {\"accessToken\",\"expiresAt\"} (unix seconds): the one\n"    \
    "kept in the session store and shared by every wxsessiond, fetched (cgi-bin/stable_token)\n"   \
    "only when the store has none that is current. --invalid TOKEN: TOKEN was refused with\n"      \
    "40001/42001: drop it from the store if it is still the stored one, and print the current\n"   \
    "one. The configuration is wxsessiond's (check-config). Exits 1 when WeChat refused or\n"      \
    "could not be reached, 2 on a usage or configuration error.\n"
#define API_CHECK_KEY_SYNOPSIS                                                                     \
    "check-session-key --openid OPENID (--session-key KEY | --session-key-file FILE) [--reset] "   \
    "[--config FILE] [--OPTION=VALUE ...]"
#define API_CHECK_KEY_TEXT                                                                         \
    "ask WeChat (wxa/checksession) whether KEY is still the session_key it holds for OPENID:\n"    \
    "print \"ok\" and exit 0, or \"stale\" and exit 1. --reset: give the user a new session_key\n" \
    "(wxa/resetusersessionkey, signed with KEY) and print it. Uses the app's access_token as\n"    \
    "access-token does. Exits 2 on a usage or configuration error, 1 when WeChat refused.\n"

/** `wxsession access-token ARGS`: the exit status. */
int cmd_access_token(int argc, char **argv);
/** `wxsession check-session-key ARGS`: the exit status. */
int cmd_check_session_key(int argc, char **argv);

#endif /* WXS_CLI_API_COMMANDS_H */

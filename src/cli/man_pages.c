/* man_pages.c: wxsessiond(8) and wxsession(1) in roff, around the options section that
 * libwxsession writes from the option tables (wxs_config_print_man), so the pages list exactly
 * the options the programs read. */
#include "man_pages.h"

#include <string.h>

/* The pages' header (no date, so that a rebuild writes the same bytes); no hyphenation and
 * ragged right, so option names stay whole. */
static void title(FILE *out, const char *name, int section, const char *manual)
{
    fprintf(out, ".TH %s %d \"\" \"wxsession %s\" \"%s\"\n.nh\n.ad l\n", name, section, WXS_VERSION,
            manual);
}

static const char wxsessiond_head[] =
    ".SH NAME\n"
    "wxsessiond \\- login and session service for WeChat Mini Program backends\n"
    ".SH SYNOPSIS\n"
    ".B wxsessiond\n"
    "[\\fB\\-\\-config\\fR \\fIFILE\\fR] [\\fB\\-\\-dev\\fR] [\\fB\\-\\-simulator\\-only\\fR] "
    "[\\fB\\-\\-check\\-config\\fR] [\\fB\\-\\-\\fIOPTION\\fB=\\fIVALUE\\fR ...]\n"
    ".br\n"
    ".B wxsessiond \\-\\-help\n"
    ".br\n"
    ".B wxsessiond \\-\\-version\n"
    ".SH DESCRIPTION\n"
    ".B wxsessiond\n"
    "serves the weapp\\-session protocol of WeChat Mini Programs over HTTP/1.1: it exchanges a "
    "login code with WeChat's API (code2Session), checks the signature of the user's rawData, "
    "keeps the session in a store (SQLite or Redis) and answers later requests from it. It "
    "also serves the One Stroke demo app and, for development and tests, a simulator of "
    "WeChat's API. It listens on loopback by default; put an HTTPS front (nginx) before it.\n"
    ".PP\n"
    "One process runs one worker thread per core, each with its own event loop and its own "
    "listening socket on the same port. It logs to standard error (the journal under "
    "systemd) and tells a Type=notify service manager when it is ready, reloading and "
    "stopping.\n"
    ".SH MODES\n"
    ".TP\n"
    "\\fB\\-\\-config\\fR \\fIFILE\\fR\n"
    "Read a JSON config file: an object whose keys are the option names below, dotted names "
    "as nested objects (\\fBredis.port\\fR is written {\"redis\": {\"port\": 6379}}). A line "
    "whose first characters other than spaces are \\fB//\\fR or \\fB#\\fR is a comment.\n"
    ".TP\n"
    ".B \\-\\-dev\n"
    "Development mode: the SQLite store in wxsession\\-dev.db, the built\\-in WeChat simulator "
    "and a development appId and appSecret; no Redis and no WeChat account needed.\n"
    ".TP\n"
    ".B \\-\\-simulator\\-only\n"
    "Serve only the WeChat simulator (for tests and benchmarks).\n"
    ".TP\n"
    ".B \\-\\-check\\-config\n"
    "Read and validate the configuration, print it as JSON (secrets shown as \"***\") and "
    "\"config ok\", and exit.\n"
    ".TP\n"
    ".B \\-\\-help\n"
    "Print the options and exit.\n"
    ".TP\n"
    ".B \\-\\-version\n"
    "Print the version and the build's commit and exit.\n"
    ".SH OPTIONS\n"
    "Every option is read from four places, each overriding the one before it: its default, "
    "the config file, its environment variable, its flag (\\fB\\-\\-\\fIflag\\fB=\\fIVALUE\\fR "
    "or \\fB\\-\\-\\fIflag\\fR \\fIVALUE\\fR). From the environment and flags, integers are "
    "plain decimal and booleans \\fBtrue\\fR/\\fBfalse\\fR, \\fB1\\fR/\\fB0\\fR or "
    "\\fByes\\fR/\\fBno\\fR. A bad value stops the program with the option's name and the "
    "reason. Secrets can also be read from a file named by the variable with \\fB_FILE\\fR "
    "appended (at most 4096 bytes, trailing newlines removed); prefer it to flags, which other "
    "local users can see.\n";

static const char wxsessiond_tail[] =
    ".SH ENVIRONMENT\n"
    "Each option's variable is named above. Besides them:\n"
    ".TP\n"
    ".B NOTIFY_SOCKET\n"
    "The service manager's notification socket (set by systemd for Type=notify): READY=1 once "
    "every worker listens, RELOADING=1 and READY=1 around a reload, STOPPING=1 on stop.\n"
    ".TP\n"
    ".B UV_THREADPOOL_SIZE\n"
    "Threads of libuv's pool, which runs the drawing lists (default 4).\n"
    ".SH FILES\n"
    ".TP\n"
    ".I /etc/wxsession/wxsession.json\n"
    "The config file the systemd unit names: a fully commented sample, every option with its "
    "help and default.\n"
    ".TP\n"
    ".I /etc/wxsession/app_secret\n"
    "The mini program's AppSecret alone, readable by root only; the unit hands it to the "
    "service as a credential (\\fBWXS_APP_SECRET_FILE\\fR) and does not start until it "
    "exists.\n"
    ".TP\n"
    ".I /var/lib/wxsession/wxsession.db\n"
    "The SQLite database (sessions and drawings) under the unit, owned by the wxsession "
    "user.\n"
    ".TP\n"
    ".I /lib/systemd/system/wxsessiond.service\n"
    "The systemd unit; change it with \\fBsystemctl edit wxsessiond\\fR.\n"
    ".SH SIGNALS\n"
    ".TP\n"
    ".BR SIGTERM \", \" SIGINT\n"
    "Stop gracefully: stop accepting, let the requests in flight finish "
    "(\\fBtimeouts.shutdownMs\\fR at most), exit 0.\n"
    ".TP\n"
    ".B SIGHUP\n"
    "Read the configuration again; \\fBlog.level\\fR and \\fBlog.format\\fR apply at once, "
    "the other options at the next start. A configuration that does not read changes "
    "nothing.\n"
    ".SH EXIT STATUS\n"
    "0 after a graceful stop, \\fB\\-\\-check\\-config\\fR, \\fB\\-\\-help\\fR or "
    "\\fB\\-\\-version\\fR; 2 when the configuration is invalid or the service cannot start "
    "(the port is taken, a store cannot be opened).\n"
    ".SH SEE ALSO\n"
    ".BR wxsession (1),\n"
    ".BR systemctl (1),\n"
    ".BR journalctl (1)\n";

void man_page_wxsessiond(const wxs_config *cfg, FILE *out)
{
    title(out, "WXSESSIOND", 8, "System Administration");
    fputs(wxsessiond_head, out);
    wxs_config_print_man(cfg, out);
    fputs(wxsessiond_tail, out);
}

/* Write text as roff: hyphens and backslashes escaped, newlines kept (a line that would start
 * with '.' or '\'' made literal). */
static void roff_lines(FILE *out, const char *text)
{
    int line_start = 1;
    for (; *text != '\0'; text++) {
        if (line_start && (*text == '.' || *text == '\''))
            fputs("\\&", out);
        if (*text == '-')
            fputs("\\-", out);
        else if (*text == '\\')
            fputs("\\e", out);
        else
            fputc(*text, out);
        line_start = *text == '\n';
    }
}

static const char wxsession_head[] =
    ".SH NAME\n"
    "wxsession \\- sign and verify rawData, decode headers, decrypt encryptedData, hash tokens "
    "and check configurations of wxsessiond\n"
    ".SH SYNOPSIS\n"
    ".B wxsession\n"
    "\\fICOMMAND\\fR [\\fIARGS\\fR]\n"
    ".br\n"
    ".B wxsession\n"
    "\\fICOMMAND\\fR \\fB\\-\\-help\\fR\n"
    ".br\n"
    ".B wxsession \\-\\-help\n"
    ".br\n"
    ".B wxsession \\-\\-version\n"
    ".SH DESCRIPTION\n"
    ".B wxsession\n"
    "is the command\\-line companion of\n"
    ".BR wxsessiond (8):\n"
    "it computes and checks the signature of a weapp\\-session login, percent\\-decodes the "
    "X\\-WX\\-RawData header as the mini program encodes it, decrypts WeChat's encryptedData "
    "with a session key, shows the store key of a token's session (never the token), and "
    "checks a configuration with the server's own reader, so both accept and refuse the same "
    "files.\n"
    ".SH COMMANDS\n";

static const char wxsession_tail[] =
    ".SH EXIT STATUS\n"
    "0 on success; 1 when \\fBverify\\fR finds a mismatch or \\fBdecrypt\\fR cannot decrypt "
    "the data (wrong key, corrupt, or for another app); 2 on a usage error, unreadable or "
    "malformed input or an invalid configuration.\n"
    ".SH EXAMPLES\n"
    "Check the installed configuration with the service's secret:\n"
    ".PP\n"
    ".nf\n"
    ".RS\n"
    "WXS_APP_SECRET_FILE=/etc/wxsession/app_secret \\e\n"
    "    wxsession check\\-config \\-\\-config /etc/wxsession/wxsession.json\n"
    ".RE\n"
    ".fi\n"
    ".SH SEE ALSO\n"
    ".BR wxsessiond (8)\n";

void man_page_wxsession(const wxs_config *cfg, const command_help *commands, size_t n, FILE *out)
{
    title(out, "WXSESSION", 1, "User Commands");
    fputs(wxsession_head, out);
    for (size_t i = 0; i < n; i++) {
        fputs(".TP\n\\fBwxsession ", out);
        roff_lines(out, commands[i].synopsis);
        fputs("\\fR\n", out);
        roff_lines(out, commands[i].text);
    }
    fputs(".SH \"CHECK\\-CONFIG OPTIONS\"\n"
          "\\fBcheck\\-config\\fR takes the options of\n"
          ".BR wxsessiond (8),\n"
          "from the same four places (defaults < config file < environment < flags):\n",
          out);
    wxs_config_print_man(cfg, out);
    fputs(wxsession_tail, out);
}

/* json.c: JSON text checks every layer needs before it parses untrusted bytes. */
#include "util.h"

int wxs__json_depth_ok(const char *s, size_t n, int max_depth)
{
    int depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

/* What failoverctl's command files share: the client, requests against the agent's API, and
 * exit codes. */
#ifndef FO_CLI_CLI_H
#define FO_CLI_CLI_H

struct json_object;

enum { FO_CLI_OK = 0, FO_CLI_EREQ = 1, FO_CLI_EUSAGE = 2 };

struct fo_cli {
    char *url;   /* base URL without a trailing '/' */
    char *token; /* NULL: anonymous */
    int color;   /* stdout is a terminal */
};

/* method on base URL + path (body may be NULL); the body of a 2xx answer in *out (caller frees).
 * Errors are printed, naming the URL, and give FO_CLI_EREQ. */
int fo_cli_request(struct fo_cli *cli, const char *method, const char *path, const char *body,
                   char **out);
/* GET path as a JSON object (*raw keeps the text when not NULL). */
int fo_cli_get_json(struct fo_cli *cli, const char *path, struct json_object **out, char **raw);

/* audit.c */
int fo_cli_cmd_audit(struct fo_cli *cli, int argc, char **argv);

#endif

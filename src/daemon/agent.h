/* The running agent: loads the configuration, runs the check engine and the API on one libuv
 * loop, reloads on SIGHUP (all or nothing) and, with a cluster: section, joins the cluster. */
#ifndef FO_DAEMON_AGENT_H
#define FO_DAEMON_AGENT_H

/* plugin_dir, when not NULL, replaces the configured plugin_dir (an uninstalled build). */
/* Validates FILE (schema and every check's plugin params); prints every error to stderr.
 * Returns 0 when valid. */
int fo_agent_check_config(const char *file, const char *plugin_dir);
/* Runs the agent until SIGTERM or SIGINT. Returns 0 on a clean exit. */
int fo_agent_run(const char *file, int bootstrap, const char *plugin_dir);

#endif

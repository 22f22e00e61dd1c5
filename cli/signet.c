/* signet: the administrator and client command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
	const char *name;
	int (*fn)(struct cli_ctx *, int, char **);
	const char *help;
} commands[] = {
	{ "init", cmd_init, "create the CA: keys on the tokens, certificates, config" },
	{ "db", cmd_db, "db migrate: apply schema migrations" },
	{ "provisioner", cmd_provisioner, "add | list | remove who may enroll" },
	{ "token", cmd_token, "mint a one-time enrollment token" },
	{ "enroll", cmd_enroll, "get a certificate from a CA with a token" },
	{ "renew", cmd_renew, "keep a certificate renewed (once, or --daemon)" },
	{ "issue", cmd_issue, "issue a certificate from a CSR (administrator)" },
	{ "list", cmd_list, "list certificates" },
	{ "show", cmd_show, "show one certificate" },
	{ "expiring", cmd_expiring, "expiring certificates without a successor (exit 1 if any)" },
	{ "audit", cmd_audit, "audit verify: check the audit log chain" },
	{ "revoke", cmd_revoke, "revoke a certificate (RFC 5280 reason)" },
	{ "crl", cmd_crl, "sign the issuing CAs' CRLs now" },
	{ "root", cmd_root, "root crl: sign the root's CRL (needs the root token)" },
	{ "monitor", cmd_monitor, "check the certificates TLS endpoints serve (exit 1 if any is bad)" },
	{ "acme", cmd_acme, "acme eab: mint an ACME External Account Binding key" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: signet [-c FILE] COMMAND [ARGS]\n\n"
	    "  -c FILE   config file (default $SIGNET_CONFIG)\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`signet COMMAND --help` tells more.\n"
	    "exit: 0 ok, 1 condition found, 2 usage or config error, 3 failure\n");
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx;
	int i = 1, rc;

	memset(&ctx, 0, sizeof(ctx));
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "signet: -c needs a file\n");
				return 2;
			}
			ctx.config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("signet %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "signet: unknown option \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < NCOMMANDS; k++)
		if (strcmp(argv[i], commands[k].name) == 0) {
			rc = commands[k].fn(&ctx, argc - i, argv + i);
			cli_ctx_close(&ctx);
			return rc;
		}
	fprintf(stderr, "signet: unknown command \"%s\" (signet --help lists them)\n",
	    argv[i]);
	return 2;
}

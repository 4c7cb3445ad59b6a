package main

import "github.com/spf13/cobra"

func newClientCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client-cert",
		Short: "Issue a client identity for grpcurl and other tools",
		Long: `client-cert issues a /client/NAME identity and writes cert.pem, key.pem
and ca.pem into --out. A client may read the ledger, the directory and the
rounds, and call Query; nothing else.`,
		Example: `  coordinator client-cert --home ./net --name ops --out ./ops`,
		Args:    cobra.NoArgs,
		RunE:    notYet("client-cert"),
	}
	cmd.Flags().String("home", homeDefault(), "coordinator home folder")
	cmd.Flags().String("name", "", "client name")
	cmd.Flags().String("out", "", "folder to write cert.pem, key.pem and ca.pem into")
	return cmd
}

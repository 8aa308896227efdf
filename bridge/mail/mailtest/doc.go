// Package mailtest runs a real SMTP server inside a test process, so tests
// can send email the way the daemon does and look at what a recipient would
// get.
//
//	srv := mailtest.Start(t, mailtest.WithAuth("user", "secret"))
//	// … configure SMTP_URL=srv.URL() and send …
//	msgs := srv.Messages()
//	// msgs[0].Subject, msgs[0].Text, msgs[0].HTML are decoded
//
// Start listens on 127.0.0.1 at a free port and stops the server when the
// test ends. Plain SMTP is the default; WithSTARTTLS and WithImplicitTLS use a
// self-signed certificate that ClientTLSConfig trusts. Accepted messages are
// recorded before the server answers the DATA command, so a sender that has
// returned finds its message in Messages; Wait is for mail sent in the
// background.
package mailtest

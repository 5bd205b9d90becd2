package mail

import "crypto/tls"

// SetTLSConfig lets tests trust a certificate made for them.
func (s *SMTP) SetTLSConfig(c *tls.Config) { s.tls = c }

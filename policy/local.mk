# tandem-policyd: the background element, an HTTPS policy daemon.

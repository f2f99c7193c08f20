# tandem-milter: the foreground element, a milter beside the MTA.

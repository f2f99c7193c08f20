# Numbered migrations, applied by "tandemctl db migrate".
sqlfgdir = $(pkgdatadir)/sql/fg
sqlbgdir = $(pkgdatadir)/sql/bg
dist_sqlfg_DATA =
dist_sqlbg_DATA =

# fuzz targets (./configure --enable-fuzz CC=clang)

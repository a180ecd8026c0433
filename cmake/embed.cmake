# Turn a text file into a C string constant (eos_quickstart_yaml) as a byte array.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from ${IN} */\nconst char eos_quickstart_yaml[] = {${bytes} 0x00};\n")

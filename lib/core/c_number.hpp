#pragma once
// strtod and strtof in the "C" locale, whatever locale the program has set: after
// setlocale(LC_ALL, "de_DE.UTF-8") plain strtod stops at the '.' of "0.1".

namespace descent::detail {

double strtod_c(const char* text, char** end);
float strtof_c(const char* text, char** end);

}  // namespace descent::detail

#ifndef ROTOR_CYAML_SHIM_H
#define ROTOR_CYAML_SHIM_H
#include <yaml.h>
#endif

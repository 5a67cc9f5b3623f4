/** This package's version, sent as `$lib_version`. */
export const version = "0.1.0"

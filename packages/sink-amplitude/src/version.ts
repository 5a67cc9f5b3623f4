/** This package's version, sent as the events' `library`. */
export const version = "0.1.0"

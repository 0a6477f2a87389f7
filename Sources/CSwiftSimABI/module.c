/* Placeholder so that SwiftPM builds a module for include/swiftsim.h. */

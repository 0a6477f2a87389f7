/* Placeholder so that SwiftPM builds a module for include/swiftsim_simd.h (header-only). */

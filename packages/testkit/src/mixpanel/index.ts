/** A local Mixpanel `/import` receiver that enforces the documented contract and plays faults. */
export * from "./MixpanelReceiver.js"

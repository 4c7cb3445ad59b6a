package coordinator

// OpenedEvents exposes openedEvents to the external tests.
var OpenedEvents = openedEvents

// Package services wires a task's warden: it is the one place that says
// which services a warden runs, in which order and with what, and the
// warden process's body (the hidden `terok task warden` verb calls Serve).
//
// A new service is a package of its own under lib/warden implementing
// warden.Service (and warden.Controller if it takes control operations),
// plus one entry in the list of services in Serve (services.go).
package services

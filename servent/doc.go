// Package servent is the node: connections, routing of descriptors, HTTP transfers and the control API.
package servent

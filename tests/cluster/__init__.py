"""Test support: a real Kubernetes control plane on loopback and a pod runner standing in for kubelet."""

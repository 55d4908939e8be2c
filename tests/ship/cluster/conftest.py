from cluster.fixtures import kube, namespace

__all__ = ["kube", "namespace"]

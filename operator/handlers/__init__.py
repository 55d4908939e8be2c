"""kopf handlers: thin glue from kopf to controller.Controller."""

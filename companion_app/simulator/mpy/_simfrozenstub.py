# One frozen network module before its first use: _simfrozen.install() imports this file once per
# module and renames the result; the module's code is compiled when a program first takes a name
# from it (_simfrozen.lazy).
__getattr__ = __import__("_simfrozen").lazy(globals())

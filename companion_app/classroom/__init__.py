"""A class of boards: one class file, the whole lab flashed and deployed at once, a live dashboard.

The modules, in the order a lesson uses them: `classfile` (the teacher's class.toml), `topics`
(where each board publishes on MQTT), `runner` (flash and deploy every board in parallel),
`live` (the dashboard's subscriber and per-board state), `broker` (an embedded MQTT broker for a
lab that has none) and `cli` (`iotkit class …` and `iotkit broker`).
"""

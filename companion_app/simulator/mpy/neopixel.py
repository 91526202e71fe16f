# Emulated `neopixel` module: keeps the colours; nothing to light on a virtual board.
class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, *, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self._px = [(0,) * bpp for _ in range(n)]

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        self._px[i] = tuple(v)

    def __getitem__(self, i):
        return self._px[i]

    def fill(self, v):
        for i in range(self.n):
            self._px[i] = tuple(v)

    def write(self):
        pass

"""Adult facial anthropometric norms and the matching distances measured on iBUG-68 landmarks.

Norms (`FARKAS_NAC`): Farkas, L. G. (1994) "Anthropometry of the Head and Face", 2nd ed., Raven
Press, New York: North American Caucasian (NAC) young adults, direct (caliper) soft-tissue
measurements, male and female mean and standard deviation in mm, as commonly reproduced as the
"North America whites" reference in Farkas, L. G., Katic, M. J., Forrest, C. R. et al. (2005)
"International anthropometric study of facial morphology in various ethnic groups/races",
J. Craniofac. Surg. 16(4):615-646.

Provenance caveat: the values below were transcribed from memory of those commonly reproduced
tables; they were not re-checked against the printed source when this module was written. Check
them against the book before citing them as data. Two measures the identity basis would like,
zy-zy (bizygomatic width) and go-go (bigonial width), are measured by `facial_measures` but have
no norm here, because their published values could not be stated with confidence.

Landmark approximations (`facial_measures`, iBUG-68, 0-based; REFERENCE §10). The iBUG points are
defined on images, not on the anthropometric soft-tissue landmarks, so several measures are
proxies:

* ex-ex (biocular width): exocanthia = points 36 and 45 (the outer eye corners). Direct match.
* en-en (intercanthal width): endocanthia = points 39 and 42 (the inner eye corners). Direct match.
* ch-ch (mouth width): cheilia = points 48 and 54 (the outer mouth corners). Direct match.
* al-al (nose width): alare is the most lateral point of the alar wing; points 31 and 35 sit at the
  lateral end of the nostril line (the alar base, close to subalare), medial to alare. The proxy
  underestimates al-al: on MediaPipe's canonical face model it reads 2.1 cm, while the lateral alar
  vertices (64 and 294) are 3.2 cm apart. Compare it with other values of the same proxy, not with
  the norm.
* n-gn (morphological face height): nasion is approximated by point 27 (top of the nose bridge,
  about the level of the upper lids, a few mm below the soft-tissue nasion) and gnathion by point 8
  (the lowest chin point, which is menton rather than gnathion; the two differ by a few mm). The
  proxy is within a few mm of n-gn.
* zy-zy (face width): zygion is the most lateral point of the zygomatic arch; points 0 and 16 (the
  ends of the jaw contour, at the ear/tragus level of the face silhouette) are used. On a 3-D mesh
  the silhouette points lie behind the arches and are further apart than zy-zy (MediaPipe's
  canonical model: about 15.5 cm). A relative measure only.
* go-go (mandible width): gonion is the angle of the mandible; points 4 and 12 (about a third of
  the way from the ear to the chin along the jaw contour) are used. Also a silhouette proxy, wider
  than go-go on a 3-D mesh. A relative measure only.

Distances are Euclidean in the landmarks' own space: 3-D points give 3-D distances; 2-D points
(image or frontal projection) give projected distances.
"""

import dataclasses
from typing import Final

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


@dataclasses.dataclass(frozen=True)
class Norm:
    """One anthropometric measure's norm, in millimetres.

    Attributes:
      male_mean, male_sd: mean and standard deviation of adult men (mm).
      female_mean, female_sd: the same for adult women (mm).
    """

    male_mean: float
    male_sd: float
    female_mean: float
    female_sd: float

    def mean(self, sex: str = "both") -> float:
        """Mean in cm: "male", "female", or "both" (an equal mix of the sexes)."""
        if sex == "male":
            return self.male_mean / 10.0
        if sex == "female":
            return self.female_mean / 10.0
        if sex == "both":
            return 0.5 * (self.male_mean + self.female_mean) / 10.0
        raise ValueError(f"sex must be 'male', 'female' or 'both', got {sex!r}")

    def sd(self, sex: str = "both") -> float:
        """Standard deviation in cm.

        "both" is the within-sex SD (root mean square of the two sexes' SDs): the spread of one
        individual around its sex's mean, which is what an identity coefficient of 1 models. The SD
        of an equal mix of the sexes, which adds the sex difference, is `mixture_sd`.
        """
        if sex == "male":
            return self.male_sd / 10.0
        if sex == "female":
            return self.female_sd / 10.0
        if sex == "both":
            return float(np.sqrt(0.5 * (self.male_sd**2 + self.female_sd**2))) / 10.0
        raise ValueError(f"sex must be 'male', 'female' or 'both', got {sex!r}")

    def mixture_sd(self) -> float:
        """SD (cm) of an equal mix of men and women: within-sex spread plus the sex difference."""
        within = 0.5 * (self.male_sd**2 + self.female_sd**2)
        between = (0.5 * (self.male_mean - self.female_mean)) ** 2
        return float(np.sqrt(within + between)) / 10.0


# Farkas (1994), North American Caucasian young adults; mm. See the module docstring's caveat.
FARKAS_NAC: Final = {
    "ex_ex": Norm(male_mean=91.2, male_sd=3.0, female_mean=87.8, female_sd=3.2),
    "en_en": Norm(male_mean=33.3, male_sd=2.7, female_mean=31.8, female_sd=2.3),
    "ch_ch": Norm(male_mean=54.5, male_sd=3.5, female_mean=50.2, female_sd=3.2),
    "al_al": Norm(male_mean=34.9, male_sd=2.1, female_mean=31.4, female_sd=2.0),
    "n_gn": Norm(male_mean=121.3, male_sd=6.8, female_mean=112.8, female_sd=5.2),
}

# measure -> (iBUG-68 point pair, soft-tissue landmarks it stands for)
FACIAL_MEASURES: Final = {
    "ex_ex": ((36, 45), "exocanthion - exocanthion (biocular width)"),
    "en_en": ((39, 42), "endocanthion - endocanthion (intercanthal width)"),
    "ch_ch": ((48, 54), "cheilion - cheilion (mouth width)"),
    "al_al": ((31, 35), "alare - alare (nose width); proxy: alar base, underestimates"),
    "n_gn": ((27, 8), "nasion - gnathion (morphological face height); proxy"),
    "zy_zy": ((0, 16), "zygion - zygion (face width); silhouette proxy, overestimates"),
    "go_go": ((4, 12), "gonion - gonion (mandible width); silhouette proxy, overestimates"),
}


def facial_measures(landmarks68: Float[Array, "... 68 d"]) -> dict[str, Float[Array, "..."]]:
    """Anthropometric distances (cm) from iBUG-68 landmarks (module docstring: approximations).

    Args:
      landmarks68: (..., 68, d) iBUG-68 points in cm, d = 3 (or 2 for projected distances); numpy
        or jax.

    Returns:
      A dict from measure name (keys of `FACIAL_MEASURES`: ex_ex, en_en, ch_ch, al_al, n_gn, zy_zy, go_go)
      to (...) distances in cm, numpy for numpy input and jax otherwise (differentiable).

    Raises:
      ValueError: if axis -2 does not hold 68 points.
    """
    shape = getattr(landmarks68, "shape", None)
    if shape is None or len(shape) < 2 or shape[-2] != 68:
        raise ValueError(f"landmarks68 must have shape (..., 68, d), got {shape}")
    xp = np if isinstance(landmarks68, np.ndarray) else jnp
    return {
        name: xp.sqrt(xp.sum((landmarks68[..., a, :] - landmarks68[..., b, :]) ** 2, axis=-1))
        for name, ((a, b), _) in FACIAL_MEASURES.items()
    }

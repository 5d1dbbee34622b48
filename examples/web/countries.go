package web

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// countries is countriesJSON, built once.
var countries = sync.OnceValue(countriesJSON)

// countriesJSON is the country picker's list, built from phonenumbers'
// metadata: every region with a country calling code, as
//
//	[region, calling code, example mobile number, trunk prefix, main]
//
// for instance ["GB", 44, "7400 123456", "0", 1]. The example is the
// region's example mobile number in international format without its
// "+44 " (the page groups typed digits the same way and shows it as a
// placeholder); the trunk prefix is what a national number may start with
// at home; main is 1 for the region that phonenumbers picks for the calling
// code (US for +1, GB for +44), which the page switches to when a number
// typed with "+" names another calling code. Region names are left to the
// browser (Intl.DisplayNames), in the reader's language.
func countriesJSON() []byte {
	regions := make([]string, 0, len(phonenumbers.GetSupportedRegions()))
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	rows := make([][]any, 0, len(regions))
	for _, r := range regions {
		cc := phonenumbers.GetCountryCodeForRegion(r)
		if cc == 0 {
			continue
		}
		main := 0
		if phonenumbers.GetRegionCodeForCountryCode(cc) == r {
			main = 1
		}
		rows = append(rows, []any{r, cc, exampleMobile(r, cc), phonenumbers.GetNddPrefixForRegion(r, true), main})
	}
	b, err := json.Marshal(rows)
	if err != nil { // only strings and numbers: cannot happen
		panic(err)
	}
	return b
}

// exampleMobile returns region's example mobile number in international
// format without the calling code ("7400 123456" for GB), or "" if the
// metadata has none.
func exampleMobile(region string, cc int) string {
	n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if n == nil {
		return ""
	}
	s := phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	return strings.TrimSpace(strings.TrimPrefix(s, "+"+strconv.Itoa(cc)))
}
